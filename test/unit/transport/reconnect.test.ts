// Bringing a dropped connection back: bounded attempts with a growing wait, one attempt shared by
// callers at once, the hook (the host's lock) run on the new connection, and errors that another
// attempt cannot fix (a changed host key, a refused login) given up at once. The connections here
// are stand-ins that drop when told; the real path is test/integration/connection.test.ts.
import { describe, expect, it } from 'vitest';
import { ConnectError, ConnectionLostError } from '../../../src/errors.ts';
import { ReconnectingConnection } from '../../../src/transport/reconnect.ts';
import type { Connection } from '../../../src/transport/ssh.ts';
import type { SshTarget } from '../../../src/transport/target.ts';

const target = { name: 'relay1' } as SshTarget;

/** A connection that answers with its number until it is dropped. */
function standIn(n: number): Connection & { drop(): void } {
  let open = true;
  return {
    target,
    exec: async (command) => {
      if (!open) throw new ConnectionLostError('relay1', 'connection lost while running a command: gone');
      return { command, code: 0, stdout: `conn ${n}`, stderr: '' };
    },
    openChannel: () => Promise.reject(new Error('not used')),
    isOpen: () => open,
    close: () => (open = false),
    drop: () => (open = false),
  };
}

const quick = { attempts: 3, firstDelayMs: 1, maxDelayMs: 4 };

describe('ReconnectingConnection', () => {
  it('a command after a drop brings the connection back, runs the hook on the new one, and runs there', async () => {
    const first = standIn(1);
    const opened: number[] = [];
    const hooked: string[] = [];
    let n = 1;
    const conn = new ReconnectingConnection(first, quick, {
      log: () => {},
      open: async () => {
        opened.push(++n);
        return standIn(n);
      },
      onReconnect: async (fresh) => void hooked.push((await fresh.exec('lock')).stdout),
    });
    expect((await conn.exec('x')).stdout).toBe('conn 1');
    first.drop();
    expect(conn.isOpen()).toBe(false);
    // two callers at once share one reconnect
    const [a, b] = await Promise.all([conn.exec('y'), conn.exec('z')]);
    expect([a.stdout, b.stdout, opened, hooked, conn.reconnects]).toEqual(['conn 2', 'conn 2', [2], ['conn 2'], 1]);
  });

  it('gives up after its attempts, saying why and how long it tried', async () => {
    let tries = 0;
    const conn = new ReconnectingConnection(standIn(1), quick, {
      log: () => {},
      open: async () => {
        tries++;
        throw new ConnectError('relay1', 'cannot connect to 127.0.0.1:2222: connect ECONNREFUSED');
      },
    });
    await expect(conn.reconnect('the connection was lost during "install sendmail"')).rejects.toThrow(
      /^relay1: the connection was lost during "install sendmail", and it could not be brought back \(3 attempts over \d+ s; last: .*ECONNREFUSED\)$/,
    );
    expect(tries).toBe(3);
  });

  it('does not try again what another attempt cannot fix (a changed host key)', async () => {
    let tries = 0;
    const conn = new ReconnectingConnection(standIn(1), quick, {
      log: () => {},
      open: async () => {
        tries++;
        throw new ConnectError('relay1', 'HOST KEY CHANGED for 127.0.0.1:2222: it offered SHA256:x');
      },
    });
    await expect(conn.reconnect('lost')).rejects.toThrow(/HOST KEY CHANGED/);
    expect(tries).toBe(1);
  });

  it('once closed by the run, it never reconnects', async () => {
    const conn = new ReconnectingConnection(standIn(1), quick, { log: () => {}, open: async () => standIn(2) });
    conn.close();
    await expect(conn.exec('x')).rejects.toThrow(/the run closed the connection/);
  });
});
