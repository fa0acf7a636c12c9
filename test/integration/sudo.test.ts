// The transport's trust rules against real sandbox hosts. sudo: the password reaches sudo only when
// it asks, never a command's stdin (a NOPASSWD rule with a password configured once wrote the password
// into every file mailprov wrote), a refused password or requiretty fails clearly and changes nothing.
// Host keys: a host that now offers a key of a type other than the recorded one is refused like a
// changed key, not recorded as a new one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePlaybook } from '../../src/playbook/index.ts';
import { file } from '../../src/resources/index.ts';
import { connect, type Connection, type SshTarget } from '../../src/transport/ssh.ts';
import { apply, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const notes = definePlaybook({
  name: 'trust-notes',
  settings: z.object({ text: z.string() }).strict(),
  build: ({ text }) => ({ resources: [file({ path: '/etc/trust-notes.conf', content: `${text}\n`, mode: '0644' })] }),
});

// deploy: NOPASSWD; deploy2: needs its password; deploy3: NOPASSWD but sudoers sets requiretty
const PASSWORDS = { deploy: 'Unused-deploy pass', deploy2: 'S3cret deploy2 pass', deploy3: 'Unused-deploy3 pass' };
const RELAY1 = 0;
const RELAY2 = 1;

const sandbox = useSandbox(2);
const made: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

beforeAll(async () => {
  await remote(
    RELAY1,
    [
      'for u in deploy deploy2 deploy3; do useradd -m -s /bin/bash $u; mkdir -p /home/$u/.ssh; cp /root/.ssh/authorized_keys /home/$u/.ssh/; chown -R $u: /home/$u/.ssh; done',
      "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy",
      "echo 'deploy2 ALL=(ALL) ALL' > /etc/sudoers.d/deploy2",
      "printf 'Defaults:deploy3 requiretty\\ndeploy3 ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/deploy3",
      'chpasswd',
    ].join(' && '),
    Object.entries(PASSWORDS)
      .map(([u, p]) => `${u}:${p}\n`)
      .join(''),
  );
});

afterAll(async () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const remote = async (host: number, cmd: string, stdin?: string) => (await remoteExec(sandbox.state, host, cmd, stdin)).stdout;

function targetAs(user: string, sudoPassword: string | undefined): SshTarget {
  const h = sandbox.state.hosts[RELAY1];
  return {
    name: h.name,
    address: '127.0.0.1',
    port: h.port,
    user,
    privateKey: sandbox.state.privateKey,
    knownHosts: sandbox.state.knownHosts,
    hostKeyPolicy: 'strict',
    sudo: true,
    sudoPassword,
    connectTimeoutMs: 5000,
  };
}

async function withConnection<T>(target: SshTarget, use: (c: Connection) => Promise<T>): Promise<T> {
  const c = await connect(target);
  try {
    return await use(c);
  } finally {
    c.close();
  }
}

/** Applies the notes playbook on relay1 as this user, through sudo. */
async function applyAs(user: string, sudoPassword: string | undefined, text: string) {
  const inv = sandboxInventory(sandbox.state, [{ on: 'relay1', use: notes({ text }) }], {}, ['relay1']);
  Object.assign(inv.hosts[0].target, { user, sudo: true, sudoPassword });
  const [r] = await apply(inv);
  return r;
}

/** Every file under the journal and /etc that holds the text (grep exits 1 when none does). */
const filesHolding = (text: string) => remote(RELAY1, `grep -rlF -- ${`'${text}'`} /var/lib/mailprov /etc; true`);

/** What an apply could have touched on relay1: the journal (with times) and the managed file. */
const hostState = () =>
  remote(
    RELAY1,
    'ls -lR --time-style=full-iso /var/lib/mailprov 2>&1; cat /etc/trust-notes.conf 2>&1; stat -c %y /etc/trust-notes.conf 2>&1',
  );

describe('sudo', () => {
  it("a NOPASSWD user with a password configured: stdin is the command's alone, files hold their content, not the password", async () => {
    const pw = PASSWORDS.deploy;
    await withConnection(targetAs('deploy', pw), async (c) => {
      const r = await c.exec('cat; echo to-stderr >&2', 'line one\nline two\n');
      expect(r.stdout).toBe('line one\nline two\n');
      expect(r.stderr).toBe('to-stderr\n');
      expect(r.code).toBe(0);
      // the lock's kind of channel: what the command reads is what we send, nothing ahead of it
      const channel = await c.openChannel('cat > /var/tmp/channel-input');
      await new Promise<void>((resolve) => {
        channel.resume(); // a channel closes once its stdout is read
        channel.on('close', () => resolve());
        channel.end('through the channel\n');
      });
    });
    expect(await remote(RELAY1, 'cat /var/tmp/channel-input')).toBe('through the channel\n');

    const r = await applyAs('deploy', pw, 'written by deploy');
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('changed');
    expect(await remote(RELAY1, 'cat /etc/trust-notes.conf')).toBe('written by deploy\n');
    const metas = (await remote(RELAY1, 'ls /var/lib/mailprov/generations/*/meta.json')).trim().split('\n');
    expect(metas.length).toBeGreaterThan(0);
    for (const meta of metas) {
      const text = await remote(RELAY1, `cat ${meta}`);
      expect(text.startsWith('{')).toBe(true);
      expect(() => JSON.parse(text)).not.toThrow();
    }
    expect(await filesHolding(pw)).toBe('');
  });

  it('a user whose sudo needs the password: applies, and the password is on no command line nor in any file', async () => {
    const pw = PASSWORDS.deploy2;
    await withConnection(targetAs('deploy2', pw), async (c) => {
      expect((await c.exec('cat', 'input\n')).stdout).toBe('input\n');
      // ps runs while this sudo command is alive: every process of the host, with its arguments
      const ps = await c.exec('ps -eo args');
      expect(ps.stdout).toContain('ps -eo args');
      expect(ps.stdout).not.toContain(pw);
      expect(ps.stderr).toBe('');
    });
    const r = await applyAs('deploy2', pw, 'written by deploy2');
    expect(r.error).toBeUndefined();
    expect(await remote(RELAY1, 'cat /etc/trust-notes.conf; stat -c %U /etc/trust-notes.conf')).toBe('written by deploy2\nroot\n');
    expect(await filesHolding(pw)).toBe('');
  });

  it('a wrong password: a clear error naming the user and host, without the password, and nothing changed on the host', async () => {
    const before = await hostState();
    const wrong = 'Wrong pass for deploy2';
    const r = await applyAs('deploy2', wrong, 'must not be written');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      new RegExp(`^relay1: sudo refused the password for user deploy2 on host 127\\.0\\.0\\.1:${sandbox.state.hosts[RELAY1].port}$`),
    );
    expect(r.error).not.toContain(wrong);
    expect(await hostState()).toBe(before);
    expect(await filesHolding(wrong)).toBe('');
  });

  it('a password needed but none configured: says so, and changes nothing', async () => {
    const before = await hostState();
    const r = await applyAs('deploy2', undefined, 'must not be written');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/^relay1: sudo needs a password for user deploy2 on host 127\.0\.0\.1:\d+ and none is configured/);
    expect(await hostState()).toBe(before);
  });

  it('sudoers requiretty: a clear error naming the host and what to change, with or without a password', async () => {
    const before = await hostState();
    for (const pw of [PASSWORDS.deploy3, undefined]) {
      const r = await applyAs('deploy3', pw, 'must not be written');
      expect(r.status).toBe('failed');
      expect(r.error).toMatch(
        /^relay1: sudo refused to run without a terminal for user deploy3 on host 127\.0\.0\.1:\d+: sudoers sets requiretty/,
      );
      expect(r.error).toMatch(/Defaults:deploy3 !requiretty\) or connect as root/);
    }
    expect(await hostState()).toBe(before);
  });
});

describe('host key types', () => {
  const relay2Target = (knownHosts: string): SshTarget => ({
    name: 'relay2',
    address: '127.0.0.1',
    port: sandbox.state.hosts[RELAY2].port,
    user: 'root',
    privateKey: sandbox.state.privateKey,
    knownHosts,
    hostKeyPolicy: 'accept-new',
    sudo: false,
    connectTimeoutMs: 5000,
  });
  const hostPub = (name: string) =>
    readFileSync(join(sandbox.state.hosts[RELAY2].dir, 'upper/etc/ssh', name), 'utf8')
      .trim()
      .split(' ')
      .slice(0, 2)
      .join(' ');

  it('accept-new refuses a host that offers no key of the recorded type, and leaves known_hosts alone', async () => {
    // recorded: an ECDSA key; the host has only its ed25519 key
    const other = join(tempDir('mailprov-otherkey-'), 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', other]);
    const known = join(tempDir('mailprov-kh-'), 'known_hosts');
    const line = `[127.0.0.1]:${sandbox.state.hosts[RELAY2].port} ${readFileSync(`${other}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`;
    writeFileSync(known, line);
    await expect(connect(relay2Target(known))).rejects.toThrow(
      new RegExp(
        `^relay2: HOST KEY CHANGED for 127\\.0\\.0\\.1:\\d+: it offers no host key of the type ${known} has for it \\(ecdsa-sha2-nistp256\\)`,
      ),
    );
    expect(readFileSync(known, 'utf8')).toBe(line);
  });

  it('accept-new refuses a host whose sshd switched from its recorded ed25519 key to ECDSA and RSA keys', async () => {
    const port = sandbox.state.hosts[RELAY2].port;
    const known = join(tempDir('mailprov-kh-'), 'known_hosts');
    const line = `[127.0.0.1]:${port} ${hostPub('ssh_host_ed25519_key.pub')}\n`;
    writeFileSync(known, line);
    // sshd re-reads its configuration on SIGHUP (it re-executes itself); sessions it has stay
    await remote(
      RELAY2,
      [
        "ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key",
        "ssh-keygen -q -t rsa -b 2048 -N '' -f /etc/ssh/ssh_host_rsa_key",
        "sed -i 's|^HostKey .*|HostKey /etc/ssh/ssh_host_ecdsa_key\\nHostKey /etc/ssh/ssh_host_rsa_key|' /etc/ssh/sshd_config.d/mailprov-sandbox.conf",
        'kill -HUP $(pgrep -o -x sshd)',
      ].join(' && '),
    );
    // the ECDSA key is now what it offers: recorded, it is accepted (so sshd is back and serving)
    const ecdsaKnown = join(tempDir('mailprov-kh-'), 'known_hosts');
    writeFileSync(ecdsaKnown, `[127.0.0.1]:${port} ${hostPub('ssh_host_ecdsa_key.pub')}\n`);
    const c = await connectSoon(relay2Target(ecdsaKnown));
    expect((await c.exec('grep -c ^HostKey /etc/ssh/sshd_config.d/mailprov-sandbox.conf')).stdout).toBe('2\n');
    c.close();

    await expect(connect(relay2Target(known))).rejects.toThrow(
      /^relay2: HOST KEY CHANGED for 127\.0\.0\.1:\d+: it offers no host key of the type .* \(ssh-ed25519\)/,
    );
    expect(readFileSync(known, 'utf8')).toBe(line);
  });
});

/** sshd takes a moment to listen again after SIGHUP. */
async function connectSoon(target: SshTarget): Promise<Connection> {
  for (let i = 0; ; i++) {
    try {
      return await connect(target);
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
