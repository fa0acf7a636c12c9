// The sandbox's one forwarder: a port per host, held from the moment the OS picks it, each
// connection piped to that host's unix socket.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPorts, startForwarder, type Forwarder } from '../../../src/sandbox/forwarder.ts';

describe('checkPorts', () => {
  it('accepts one distinct port for each host', () => {
    expect(checkPorts(['relay1', 'relay2'], { relay1: 40001, relay2: 40002 })).toEqual({ relay1: 40001, relay2: 40002 });
  });

  it('refuses two hosts on one port, a missing or unknown host, and what is not a port', () => {
    expect(() => checkPorts(['relay48', 'relay137'], { relay48: 40773, relay137: 40773 })).toThrow(
      'the forwarder reported port 40773 for both relay48 and relay137',
    );
    expect(() => checkPorts(['relay1', 'relay2'], { relay1: 40001 })).toThrow('no port for relay2');
    expect(() => checkPorts(['relay1'], { relay1: 40001, relay9: 40009 })).toThrow('hosts it was not given: relay9');
    expect(() => checkPorts(['relay1'], { relay1: 0 })).toThrow('port 0 for relay1');
    expect(() => checkPorts(['relay1'], { relay1: '40001' })).toThrow('port 40001 for relay1');
    expect(() => checkPorts(['relay1'], null)).toThrow('no port map');
  });
});

describe('startForwarder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-fwd-'));
  const servers: Server[] = [];
  let forwarder: Forwarder | undefined;
  afterAll(async () => {
    await forwarder?.close();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A unix socket that answers each connection with its name, then echoes. */
  const host = (name: string) =>
    new Promise<string>((res) => {
      const path = join(dir, `${name}.sock`);
      const s = createServer((c) => {
        c.write(`${name}\n`);
        c.pipe(c);
      });
      servers.push(s);
      s.listen(path, () => res(path));
    });

  const talk = (port: number, send: string) =>
    new Promise<string>((res, rej) => {
      const c = connect(port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => {
        got += d;
        if (got.endsWith(`${send}\n`)) c.end();
      });
      c.on('connect', () => c.write(`${send}\n`));
      c.on('error', rej);
      c.on('close', () => res(got));
    });

  it('gives 300 hosts 300 distinct ports at once, each leading to its own host, both ways', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `relay${i + 1}`);
    const sockets = await Promise.all(names.map(host));
    forwarder = await startForwarder(names.map((name, i) => ({ name, socket: sockets[i] })));
    const ports = names.map((n) => forwarder!.ports[n]);
    expect(new Set(ports).size).toBe(300);
    expect(await talk(forwarder.ports.relay1, 'ping')).toBe('relay1\nping\n');
    const replies = await Promise.all(names.map((n) => talk(forwarder!.ports[n], n)));
    expect(replies).toEqual(names.map((n) => `${n}\n${n}\n`));
  });

  it('closes a connection whose host socket is not there (a host not up yet)', async () => {
    const f = await startForwarder([{ name: 'late', socket: join(dir, 'absent.sock') }]);
    try {
      // closed (or reset, what was sent being unread): nothing comes back
      expect(await talk(f.ports.late, 'x').catch((err: Error) => err.message)).toMatch(/^(|read ECONNRESET)$/);
    } finally {
      await f.close();
    }
  });
});
