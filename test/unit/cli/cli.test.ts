// The real `mailprov` binary, run as a user runs it: TypeScript inventories loaded at run time,
// `import ... from 'mailprov'` from anywhere on disk, clear errors and exit codes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPorts } from '../../closed-port.ts';

const BIN = resolve(__dirname, '../../../bin/mailprov.mjs');

const made: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

// An empty home folder: what the CLI does must not depend on the ~/.ssh (config, keys, known_hosts)
// of the machine that runs the tests. A test that needs one of those files gives its own.
const HOME = tempDir('mailprov-cli-home-');

function mailprov(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, HOME, ...env }, cwd: tmpdir() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Ports nothing listens on (bound by this process, then closed), for the unreachable hosts below.
let closed: number[] = [];
beforeAll(async () => {
  closed = await closedPorts(2);
});

function inventory(text: string, name = 'inv.ts'): string {
  const dir = tempDir('mailprov-cli-');
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('mailprov CLI', () => {
  it('prints its version', () => {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    expect(mailprov(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('loads an inventory outside the repository that imports mailprov and its playbook', () => {
    const file = inventory(`
      import { defineInventory, secret } from 'mailprov';
      import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
      const count: number = 0; // TypeScript, loaded without a build step
      export default defineInventory({
        hosts: {},
        playbooks: [{ use: sendmailSmartHost({ smartHost: 'smtp.gmail.com', auth: { user: 'u@example.org', password: secret.env('NOPE') } }) }],
      });
    `);
    const r = mailprov(['plan', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 changes pending on 0 hosts');
  });

  it('reads the ssh_config named by --ssh-config (which must exist), and none with --no-ssh-config', () => {
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({ hosts: { relay1: { address: 'r1', jump: 'r1:x' } } });
    `);
    const missing = mailprov(['plan', file, '--ssh-config', '/nonexistent/ssh_config']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('mailprov: /nonexistent/ssh_config: cannot read it (ENOENT)\n');
    // the jump is checked before anything connects, with or without a file
    const config = join(tempDir('mailprov-cli-ssh-'), 'config');
    writeFileSync(config, 'Host r1\n  HostName 192.0.2.1\n  StrictHostKeyChecking off\n');
    for (const args of [['--ssh-config', config], ['--no-ssh-config']]) {
      const r = mailprov(['history', file, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^mailprov: .*inv\.ts: hosts\.relay1\.jump: .*"x" is not a port number/);
    }
    const valid = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({ hosts: { relay1: { address: 'r1' } } });
    `);
    // warnings come once, before the command's own work (here: refusing a host that is not there)
    const warned = mailprov(['rollback', valid, '--host', 'nobody', '--ssh-config', config]);
    expect(warned.code).toBe(1);
    expect(warned.stderr).toMatch(
      new RegExp(
        `^mailprov: warning: ${valid}: ssh_config ${config} line 3: StrictHostKeyChecking off is taken as accept-new: .* \\(1 host: relay1\\)\n`,
      ),
    );
  }, 30_000); // four runs of the CLI

  it('reports an inventory mistake with file, field and expectation, and no stack trace', () => {
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({ hosts: { relay1: { address: '10.0.0.1', port: 'twenty-two' } } } as any);
    `);
    const r = mailprov(['apply', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^mailprov: ${file.replace(/[.]/g, '\\.')}: hosts\\.relay1\\.port: .*expected number`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a TypeScript syntax error in the inventory as an inventory error', () => {
    const r = mailprov(['plan', inventory('export default {{{')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/inv\.ts: \(module\): a TypeScript module that loads/);
  });

  it('reports a missing inventory file', () => {
    const r = mailprov(['plan', '/nonexistent/inv.ts']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/inv.ts: (file): an existing inventory file');
  });

  it('reads an Ansible INI host list with --with for the playbooks; an unreachable host fails, named, with exit 1', () => {
    const dir = tempDir('mailprov-ini-');
    // the host's own key and known_hosts (as ansible_ssh_common_args names them): the run gets as
    // far as connecting, which is refused, and nothing from the home folder is read
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    writeFileSync(
      join(dir, 'hosts.ini'),
      `[relays]\nrelay1 ansible_host=127.0.0.1 ansible_port=${closed[0]} ansible_ssh_private_key_file=${join(dir, 'id')} ` +
        `ansible_ssh_common_args='-o UserKnownHostsFile=${knownHosts}'\n`,
    );
    writeFileSync(
      join(dir, 'pb.ts'),
      "import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';\nexport default [{ on: 'relays', use: sendmailSmartHost({ smartHost: 'smtp.example.org' }) }];\n",
    );
    const r = mailprov(['plan', join(dir, 'hosts.ini'), '--with', join(dir, 'pb.ts'), '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.hosts).toHaveLength(1);
    expect(doc.hosts[0]).toMatchObject({ host: 'relay1', status: 'failed' });
    expect(doc.hosts[0].error).toMatch(new RegExp(`^relay1: cannot connect to 127\\.0\\.0\\.1:${closed[0]}: .*ECONNREFUSED`));
    // that another host of the run still finishes is proven against real hosts (integration/engine.test.ts)
  });

  it('--with bindings can take settings from the INI vars; a host whose vars do not fit fails the load, named', () => {
    const dir = tempDir('mailprov-ini-vars-');
    const ini = join(dir, 'hosts.ini');
    writeFileSync(
      ini,
      '[eu]\nrelay1 ansible_host=127.0.0.1 ansible_port=1\n[us]\nrelay2 ansible_host=127.0.0.2\n[eu:vars]\nsmtp_user=eu@example.org\n',
    );
    writeFileSync(
      join(dir, 'pb.ts'),
      `import { secret, type Binding } from 'mailprov';
       import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
       export default [
         { on: ['eu', 'us'], use: (host) => sendmailSmartHost({ smartHost: 'smtp.example.org', auth: { user: host.vars.smtp_user, password: secret.env('PW') } }) },
       ] satisfies Binding[];\n`,
    );
    const r = mailprov(['plan', ini, '--with', join(dir, 'pb.ts')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `mailprov: ${ini}: host relay2: playbooks.0.use(sendmail-smarthost).settings.auth.user: Invalid input: expected string, received undefined\n`,
    );
  });

  it('says what to do when --help is asked', () => {
    const r = mailprov(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/apply.*\n.*plan|plan/);
    expect(r.stdout).toContain('forget-secrets');
    expect(mailprov(['forget-secrets', '--help']).stdout).toMatch(/--host <hosts>[\s\S]*--dry-run/);
  });

  it('forget-secrets reports an unreachable host as failed, with exit 1, in JSON too', () => {
    const key = join(tempDir('mailprov-key-'), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({
        defaults: { knownHosts: '/dev/null', privateKey: ${JSON.stringify(key)} },
        hosts: { relay1: { address: '127.0.0.1', port: ${closed[1]} } },
      });
    `);
    const r = mailprov(['forget-secrets', file, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ command: 'forget-secrets', dryRun: false, ok: false });
    expect(doc.hosts[0]).toMatchObject({ host: 'relay1', ok: false, removed: [] });
    expect(doc.hosts[0].error).toMatch(new RegExp(`^relay1: cannot connect to 127\\.0\\.0\\.1:${closed[1]}: .*ECONNREFUSED`));
  });

  it('refuses --all-or-nothing beside an inventory (it goes with a plan file), applying nothing', () => {
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({ hosts: {} });
    `);
    const r = mailprov(['apply', file, '--all-or-nothing']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^mailprov: --all-or-nothing goes with a plan file \(`mailprov plan .*inv\.ts --out plan\.json`, then `mailprov apply plan\.json --all-or-nothing`\), not with an inventory: nothing was applied\n$/,
    );
    expect(r.stdout).toBe('');
  });

  it('refuses a sandbox of no host, and a host count that is not a whole number, before touching anything', () => {
    const dir = join(tempDir('mailprov-cli-sb-'), 'sandbox');
    const none = mailprov(['sandbox', 'up', '0', '--centos', '0', '--dir', dir]);
    expect([none.code, none.stderr.trim()]).toEqual([1, 'mailprov: a sandbox needs at least one host']);
    const bad = mailprov(['sandbox', 'up', '2', '--centos', 'two', '--dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option '--centos <n>' argument 'two' is invalid. expected a whole number");
    expect(existsSync(dir)).toBe(false);
  });

  it('asks for the sudo password on the terminal with -K, echoing nothing, and says why when there is no terminal', async () => {
    const key = join(tempDir('mailprov-key-'), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({
        defaults: { knownHosts: '/dev/null', privateKey: ${JSON.stringify(key)} },
        hosts: { relay1: { address: '127.0.0.1', port: ${closed[0]}, user: 'deploy', sudo: true, connectTimeoutMs: 2000 } },
      });
    `);
    // a real terminal (script's pty); the password is typed once the prompt is up, as a person would
    const typed = await new Promise<{ stdout: string; status: number | null }>((done) => {
      const child = spawn('script', ['-qec', `${process.execPath} ${BIN} plan ${file} -K`, '/dev/null'], {
        cwd: tmpdir(),
        env: { ...process.env, HOME },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        const before = stdout;
        stdout += d.toString();
        if (!before.includes('sudo password: ') && stdout.includes('sudo password: ')) child.stdin.write('Tr0ub4dor-3\r');
      });
      child.on('close', (status) => done({ stdout, status }));
    });
    expect(typed.stdout).toContain('sudo password: ');
    expect(typed.stdout).not.toContain('Tr0ub4dor-3');
    // the host is unreachable: asked first, then failed on connecting
    expect(typed.stdout).toMatch(new RegExp(`relay1.*cannot connect to 127\\.0\\.0\\.1:${closed[0]}`));
    expect(typed.status).toBe(1);
    const piped = mailprov(['plan', file, '-K']);
    expect([piped.code, piped.stderr.trim()]).toEqual([
      1,
      'mailprov: --ask-sudo-pass needs a terminal to ask on; without one, name an environment variable with sudoPasswordEnv',
    ]);
  }, 30_000);

  it('init writes the starter inventory, which check accepts as it is, contacting no host', () => {
    const dir = join(tempDir('mailprov-init-'), 'new', 'relays');
    const init = mailprov(['init', dir]);
    expect(init.code).toBe(0);
    const file = join(dir, 'inventory.ts');
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(resolve(__dirname, '../../../inventories/starter.ts'), 'utf8'));
    expect(mailprov(['init', dir])).toMatchObject({ code: 1, stderr: `mailprov: ${file} already exists; pass --force to replace it\n` });
    expect(mailprov(['init', dir, '--force']).code).toBe(0);

    const ok = mailprov(['check', file], { SMTP_PASSWORD: 'An app password 16' });
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe(
      `${file}: 2 hosts (no host contacted)\n  relay1: root@192.0.2.10:22: sendmail-smarthost\n  relay2: root@192.0.2.11:22: sendmail-smarthost\n\nready for plan and apply\n`,
    );
    // the secret's variable unset: the lint error every host would fail on, said once for both
    const missing = mailprov(['check', file], { SMTP_PASSWORD: '' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      'relay1 and relay2: error [secret-missing] secret not set: environment variable SMTP_PASSWORD is empty or missing\n\n2 hosts would fail before any change\n',
    );
    // five runs of the CLI: more than the default 5 s on a loaded machine
  }, 30_000);

  it('says the warnings of an INI host list read by a TS inventory once, with the hosts', () => {
    const dir = tempDir('mailprov-ini-warn-');
    writeFileSync(
      join(dir, 'hosts.ini'),
      '[relays]\nrelay[1:3] ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args="-o ControlPersist=60s"\n',
    );
    const file = join(dir, 'inv.ts');
    writeFileSync(
      file,
      "import { defineInventory, hostsFromIni } from 'mailprov';\nexport default defineInventory({ hosts: hostsFromIni(new URL('./hosts.ini', import.meta.url)) });\n",
    );
    const r = mailprov(['check', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `mailprov: warning: ${join(dir, 'hosts.ini')}: Ansible variables mailprov does not read, ignored: ansible_python_interpreter (3 hosts: relay1, relay2 and relay3)\n` +
        `mailprov: warning: ${join(dir, 'hosts.ini')}: ssh arguments mailprov does not read (in ansible_ssh_*_args), ignored: ControlPersist (3 hosts: relay1, relay2 and relay3)\n`,
    );
  });

  it('--ask-key-pass without a terminal says what to do instead', () => {
    const key = join(tempDir('mailprov-key-'), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '2', '-N', 'Some passphrase', '-f', key]);
    const file = inventory(`
      import { defineInventory } from 'mailprov';
      export default defineInventory({ defaults: { privateKey: ${JSON.stringify(key)} }, hosts: { relay1: { address: '127.0.0.1', port: 1 } } });
    `);
    expect(mailprov(['check', file, '--ask-key-pass'])).toMatchObject({
      code: 1,
      stderr:
        'mailprov: --ask-key-pass needs a terminal to ask on; without one, name an environment variable with privateKeyPassphraseEnv, or load the key into ssh-agent\n',
    });
  });
});
