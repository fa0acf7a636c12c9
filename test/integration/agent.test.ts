// Keys as operators hold them, through the real CLI on a sandbox host: in a real ssh-agent (the
// inventory names no key file), and in a key file encrypted with a passphrase (from an environment
// variable named in the inventory, or typed once at the terminal). A wrong passphrase fails the run
// before any host is contacted, naming the key file, and is never shown.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSandbox } from './helpers.ts';

const BIN = resolve(__dirname, '../../bin/mailprov.mjs');
const PASSPHRASE = 'Sandbox key passphrase 7';

const sandbox = useSandbox(1);
let work: string;
let agent: ChildProcess | undefined;
let agentSocket: string;
let encryptedKey: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-agent-'));
  // an ssh-agent of the test's own, on a socket in its folder, in the foreground so that it dies with its pid
  agentSocket = join(work, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(agentSocket); i++) await new Promise((r) => setTimeout(r, 50));
  execFileSync('ssh-add', ['-q', sandbox.state.privateKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: 'ignore' });
  // the sandbox key, re-encrypted with a passphrase
  encryptedKey = join(work, 'id_ed25519_encrypted');
  copyFileSync(sandbox.state.privateKey, encryptedKey);
  execFileSync('ssh-keygen', ['-q', '-p', '-f', encryptedKey, '-N', PASSPHRASE, '-P', '']);
});

afterAll(async () => {
  agent?.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A TS inventory with one sandbox host and a playbook writing one file; `defaults` as given (no
 * privateKey unless said). `extraHosts` are more host entries, as TypeScript text.
 */
function inventory(name: string, defaults: Record<string, string>, extraHosts = ''): string {
  const file = join(work, `${name}.ts`);
  writeFileSync(
    file,
    `import { defineInventory, definePlaybook, file, z } from 'mailprov';
     const note = definePlaybook({
       name: 'agent-note',
       settings: z.object({}).strict(),
       build: () => ({ resources: [file({ path: '/etc/mailprov-agent-note', content: 'hello\\n', mode: '0644' })] }),
     });
     export default defineInventory({
       defaults: ${JSON.stringify({ knownHosts: sandbox.state.knownHosts, connectTimeoutMs: 5000, ...defaults })},
       hosts: { relay1: { address: '127.0.0.1', port: ${sandbox.state.hosts[0].port} }, ${extraHosts} },
       playbooks: [{ use: note({}) }],
     });\n`,
  );
  return file;
}

/** The real CLI with exactly these SSH_AUTH_SOCK and passphrase variables (undefined: unset). */
function cli(args: string[], env: { SSH_AUTH_SOCK?: string; MAILPROV_KEY_PASSPHRASE?: string } = {}) {
  const base = { ...process.env };
  delete base.SSH_AUTH_SOCK;
  delete base.MAILPROV_KEY_PASSPHRASE;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work, env: { ...base, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A plan of relay1 in JSON: its status and error. */
function planOf(args: string[], env: Parameters<typeof cli>[1]) {
  const r = cli(['plan', ...args, '--json'], env);
  const doc = JSON.parse(r.stdout || '{"hosts":[]}');
  return { code: r.code, stderr: r.stderr, relay1: doc.hosts.find((h: { host: string }) => h.host === 'relay1') };
}

/** A TCP listener that counts connections: a host that must never be contacted. */
async function witness(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((s) => {
    count++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, connections: () => count };
}

describe('ssh-agent', () => {
  it('with no key file in the inventory, the plan authenticates with the keys the agent holds', () => {
    const inv = inventory('agent', {});
    const r = planOf([inv], { SSH_AUTH_SOCK: agentSocket });
    expect(r.relay1).toMatchObject({ status: 'pending', error: null });
    expect(r.relay1.changes.map((c: { resource: string }) => c.resource)).toEqual(['file:/etc/mailprov-agent-note']);
    expect(r.code).toBe(2);
  });

  it('without an agent there is nothing to authenticate with, said before connecting', () => {
    const r = planOf([inventory('agent', {})], {});
    expect(r.relay1.error).toMatch(
      /^relay1: nothing to authenticate with: no privateKey for this host .* and no ssh-agent \(SSH_AUTH_SOCK is not set\)$/,
    );
  });

  it('an agent without the key: authentication is refused, naming what was tried', () => {
    const empty = join(work, 'empty-agent.sock');
    const other = spawn('ssh-agent', ['-D', '-a', empty], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(empty); i++) execFileSync('sleep', ['0.05']);
      const r = planOf([inventory('agent', {})], { SSH_AUTH_SOCK: empty });
      expect(r.relay1.error).toBe(`relay1: authentication refused for user root (tried the keys of ssh-agent at ${empty})`);
    } finally {
      other.kill();
    }
  });
});

describe('a key file encrypted with a passphrase', () => {
  const encrypted = () => ({ privateKey: encryptedKey, privateKeyPassphraseEnv: 'MAILPROV_KEY_PASSPHRASE' });

  it('works with the passphrase from the environment variable the inventory names', () => {
    const r = planOf([inventory('encrypted', encrypted())], { MAILPROV_KEY_PASSPHRASE: PASSPHRASE });
    expect(r.relay1).toMatchObject({ status: 'pending', error: null });
    expect(r.stderr).toBe('');
  });

  it('a wrong passphrase fails the run before any host is contacted, naming the key file, never showing it', async () => {
    const w = await witness();
    try {
      const inv = inventory('encrypted-witness', encrypted(), `witness: { address: '127.0.0.1', port: ${w.port} }`);
      const wrong = 'Not the passphrase 9';
      const r = cli(['plan', inv], { MAILPROV_KEY_PASSPHRASE: wrong, SSH_AUTH_SOCK: agentSocket });
      expect(r).toEqual({
        code: 1,
        stdout: '',
        stderr: `mailprov: private key ${encryptedKey}: wrong passphrase (from environment variable MAILPROV_KEY_PASSPHRASE): it does not decrypt the key\n`,
      });
      expect(w.connections()).toBe(0);
      // the variable named but not set: the same, before any host
      const unset = cli(['plan', inv], {});
      expect(unset.stderr).toBe(
        `mailprov: private key ${encryptedKey}: it is encrypted, and environment variable MAILPROV_KEY_PASSPHRASE (privateKeyPassphraseEnv) is not set\n`,
      );
      expect(w.connections()).toBe(0);
    } finally {
      w.server.close();
    }
  });

  it('--ask-key-pass asks once on the terminal, echoing nothing, for every host using the key', async () => {
    const w = await witness();
    try {
      const inv = inventory('encrypted-ask', { privateKey: encryptedKey }, `witness: { address: '127.0.0.1', port: ${w.port} }`);
      // a real terminal (script's pty); the passphrase is typed once the prompt is up, as a person would
      const typed = await new Promise<{ stdout: string; status: number | null }>((done) => {
        const child = spawn('script', ['-qec', `${process.execPath} ${BIN} plan ${inv} --ask-key-pass`, '/dev/null'], {
          cwd: work,
          env: { ...process.env, SSH_AUTH_SOCK: '' },
        });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => {
          const before = stdout;
          stdout += d.toString();
          if (!before.includes('passphrase for key') && stdout.includes('passphrase for key')) child.stdin.write(`${PASSPHRASE}\r`);
        });
        child.on('close', (status) => done({ stdout, status }));
      });
      expect(typed.stdout.match(/passphrase for key /g)).toEqual(['passphrase for key ']);
      expect(typed.stdout).toContain(`passphrase for key ${encryptedKey}: `);
      expect(typed.stdout).not.toContain(PASSPHRASE);
      // relay1 planned with the key; the witness, no SSH server, failed alone after the prompt
      expect(typed.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')).toContain('1 change pending on 1 host, 0 hosts unchanged, 1 failed');
      expect(w.connections()).toBe(1);
      expect(typed.status).toBe(1);
    } finally {
      w.server.close();
    }
  }, 60_000);
});

describe('an Ansible inventory as it is', () => {
  it('StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null: the plan works, says loudly that keys are not verified, and writes no known_hosts', () => {
    const home = mkdtempSync(join(work, 'home-'));
    const dir = mkdtempSync(join(work, 'ansible-'));
    writeFileSync(
      join(dir, 'hosts'),
      [
        '[relays]',
        `relay1 ansible_host=127.0.0.1 ansible_port=${sandbox.state.hosts[0].port}`,
        '',
        '[relays:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${sandbox.state.privateKey}`,
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
        'ansible_python_interpreter=/usr/bin/python3',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'playbooks.ts'),
      `import { definePlaybook, file, z } from 'mailprov';
       const note = definePlaybook({ name: 'agent-note', settings: z.object({}).strict(),
         build: () => ({ resources: [file({ path: '/etc/mailprov-agent-note', content: 'hello\\n', mode: '0644' })] }) });
       export default [{ on: 'relays', use: note({}) }];\n`,
    );
    const base: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete base.SSH_AUTH_SOCK;
    const r = spawnSync(process.execPath, [BIN, 'plan', join(dir, 'hosts'), '--with', join(dir, 'playbooks.ts'), '--json'], {
      encoding: 'utf8',
      cwd: dir,
      env: base,
    });
    expect(JSON.parse(r.stdout).hosts[0]).toMatchObject({ host: 'relay1', status: 'pending', error: null });
    expect(r.status).toBe(2);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(
      `mailprov: warning: ${join(dir, 'hosts')}: Ansible variables mailprov does not read, ignored: ansible_python_interpreter (1 host: relay1)`,
    );
    expect(warnings[1]).toMatch(
      /^mailprov: warning: .*: HOST KEYS NOT VERIFIED: known_hosts is \/dev\/null with accept-new .* \(1 host: relay1\)$/,
    );
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  });
});
