// Key files are opened on the controller, once, before any host is contacted: a wrong passphrase is one
// error naming the file, and never shows the passphrase.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../../closed-port.ts';
import { KeyError } from '../../../src/errors.ts';
import { redact } from '../../../src/secrets/index.ts';
import { openKey, unlockKeys } from '../../../src/transport/keys.ts';
import { connect } from '../../../src/transport/ssh.ts';
import type { SshTarget } from '../../../src/transport/target.ts';

const dir = mkdtempSync(join(tmpdir(), 'mailprov-keys-'));

// A port this test bound and closed (nothing answers there), and a listener that counts who connects
// (a host that must never be contacted directly, or before its keys are open).
let closed: number;
let listener: Server;
let listening: number;
const contacted: Socket[] = [];
beforeAll(async () => {
  closed = await closedPort();
  listener = createServer((s) => {
    contacted.push(s);
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  listening = (listener.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => listener.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const PASS = 'Corr3ct-horse-key';

/** A fresh ed25519 key; few KDF rounds when encrypted, so the tests stay quick. */
function newKey(name: string, passphrase = ''): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '2', '-N', passphrase, '-C', name, '-f', file]);
  return file;
}

const plain = newKey('plain');
const encrypted = newKey('encrypted', PASS);

function target(privateKey: string | undefined, more: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'relay1',
    address: '127.0.0.1',
    port: closed,
    user: 'root',
    privateKey,
    knownHosts: '/dev/null',
    hostKeyPolicy: 'accept-new',
    sudo: false,
    connectTimeoutMs: 2000,
    ...more,
  };
}

async function keyError(run: () => unknown): Promise<KeyError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyError);
    return err as KeyError;
  }
  throw new Error('expected a KeyError');
}

describe('openKey', () => {
  it('opens a plain key, and an encrypted one with its passphrase, each once for the run', () => {
    const key = openKey(plain);
    expect(key !== 'encrypted' && key.type).toBe('ssh-ed25519');
    expect(openKey(plain)).toBe(key);
    expect(openKey(encrypted)).toBe('encrypted');
    const opened = openKey(encrypted, PASS);
    expect(opened !== 'encrypted' && opened.isPrivateKey()).toBe(true);
    expect(openKey(encrypted, PASS)).toBe(opened);
  });

  it('a wrong passphrase names the key file and where the passphrase came from, never the passphrase', async () => {
    const e = await keyError(() => openKey(encrypted, 'Wr0ng-passphrase', 'environment variable KEY_PASS'));
    expect(e.message).toBe(`private key ${encrypted}: wrong passphrase (from environment variable KEY_PASS): it does not decrypt the key`);
    expect(e.keyFile).toBe(encrypted);
    expect(redact('typed Wr0ng-passphrase')).toBe('typed ********');
  });

  it('refuses a missing file, a public key and what is no key', async () => {
    expect((await keyError(() => openKey(join(dir, 'missing')))).message).toBe(
      `private key ${join(dir, 'missing')}: cannot read it (ENOENT)`,
    );
    expect((await keyError(() => openKey(`${plain}.pub`))).message).toMatch(/holds a public key, not a private key$/);
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'not a key\n');
    expect((await keyError(() => openKey(junk))).message).toMatch(/not a private key mailprov can read/);
  });
});

describe('unlockKeys: before any host is contacted', () => {
  it('an encrypted key with no passphrase and no agent fails, saying the ways to give one', async () => {
    const e = await keyError(() => unlockKeys([{ target: target(encrypted) }], { agent: undefined }));
    expect(e.message).toMatch(/it is encrypted and no passphrase is given: .*privateKeyPassphraseEnv.*--ask-key-pass.*ssh-agent/);
  });

  it('with an ssh-agent, an encrypted key without a passphrase is left to the agent, as ssh does', async () => {
    const hosts = [{ target: target(encrypted) }];
    expect(await unlockKeys(hosts, { agent: '/tmp/agent.sock' })).toEqual(hosts);
  });

  it('a passphrase variable named but not set is said, with its name', async () => {
    const e = await keyError(() =>
      unlockKeys([{ target: target(encrypted, { privateKeyPassphraseEnv: 'KEY_PASS' }) }], { agent: '/tmp/a' }),
    );
    expect(e.message).toBe(
      `private key ${encrypted}: it is encrypted, and environment variable KEY_PASS (privateKeyPassphraseEnv) is not set`,
    );
  });

  it('asks once per key file, whatever the number of hosts, and gives every host the passphrase', async () => {
    const copy = join(dir, 'copy');
    copyFileSync(encrypted, copy);
    const asked: string[] = [];
    const ask = async (file: string) => {
      asked.push(file);
      return PASS;
    };
    const hosts = [encrypted, encrypted, copy, plain].map((k, i) => ({ name: `h${i}`, target: target(k) }));
    const unlocked = await unlockKeys(hosts, { ask, agent: undefined });
    expect(asked).toEqual([encrypted, copy]);
    expect(unlocked.map((h) => h.target.privateKeyPassphrase)).toEqual([PASS, PASS, PASS, undefined]);
    expect(unlocked.map((h) => h.name)).toEqual(['h0', 'h1', 'h2', 'h3']);
  });

  it('a wrong passphrase typed at the prompt fails the run, naming the file', async () => {
    const e = await keyError(() => unlockKeys([{ target: target(encrypted) }], { ask: async () => 'Typed-wr0ng', agent: undefined }));
    expect(e.message).toBe(`private key ${encrypted}: wrong passphrase (from the terminal): it does not decrypt the key`);
  });

  it('a wrong passphrase from the environment fails the run even with an agent there', async () => {
    const t = target(encrypted, { privateKeyPassphrase: 'Env-wr0ng', privateKeyPassphraseEnv: 'KEY_PASS' });
    const e = await keyError(() => unlockKeys([{ target: t }], { agent: '/tmp/agent.sock' }));
    expect(e.message).toMatch(/wrong passphrase \(from environment variable KEY_PASS\)/);
  });
});

describe('connect', () => {
  it('refuses before opening a connection when there is nothing to authenticate with', async () => {
    const agent = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      // on a port that would answer: no connection is made at all
      const answering = { port: listening };
      await expect(connect(target(undefined, answering))).rejects.toThrow(
        /^relay1: nothing to authenticate with: no privateKey for this host/,
      );
      await expect(connect(target(encrypted, answering))).rejects.toThrow(KeyError);
      expect(contacted).toHaveLength(0);
    } finally {
      if (agent !== undefined) process.env.SSH_AUTH_SOCK = agent;
    }
  });

  it('connects a host behind a jump host through it, never directly: an unreachable jump host fails the host', async () => {
    // the bastion on a closed port; the host itself on a port that would answer, had it been tried
    const bastion = { ...target(plain), name: 'bastion' };
    await expect(connect(target(plain, { port: listening, jump: [bastion] }))).rejects.toThrow(
      new RegExp(`^relay1: jump host bastion: cannot connect to 127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`),
    );
    expect(contacted).toHaveLength(0);
  });

  it("opens the key of a jump host as the host's own: an encrypted one with no passphrase and no agent is a KeyError", async () => {
    const agent = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const bastion = { ...target(encrypted), name: 'bastion' };
      await expect(connect(target(plain, { jump: [bastion] }))).rejects.toThrow(KeyError);
    } finally {
      if (agent !== undefined) process.env.SSH_AUTH_SOCK = agent;
    }
  });
});
