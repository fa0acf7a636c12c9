// A failing command fails its step: every multi-command script mailprov generates stops at its
// first failing command, under dash and bash. Each builder's script runs for real in a temp folder
// with a stand-in for every external command it calls (PATH first, logging each call); the k-th
// call is made to fail (exit 7), for every k of a successful run, and no call of a later command
// may follow it (only the cleanup a failing step does itself). Calls whose failure is a branch (a
// condition: cmp -s, grep -q, getent) are not made to fail.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeCommand, makemapCommand, validateMcCommand } from '../../../playbooks/sendmail-smarthost/host.ts';
import { newaliasesCommand } from '../../../playbooks/mail-aliases/host.ts';
import { backupCommand, restoreFilesCommand } from '../../../src/journal/scripts.ts';
import { atomicWriteCommand } from '../../../src/resources/file.ts';
import { persistAddCommand, persistRemoveCommand } from '../../../src/resources/firewall.ts';
import { lineEntriesCommand, type LineEntriesRecord } from '../../../src/resources/line-entries.ts';
import { parseScriptFailure, script } from '../../../src/transport/script.ts';

const shells = ['/bin/dash', '/bin/bash'];

interface Case {
  name: string;
  /** Builds the script for a folder standing in for /etc (its files made by `setup`). */
  build(root: string): string;
  setup?(root: string): void;
  /** The external commands to stand in for, each with its body after the call is logged (default: the real one). */
  stubs: Record<string, string | null>;
  /** Calls whose failure is a branch of the script, not a failure: never made to fail. */
  conditions?: RegExp;
  /** Commands a failing step may still run to clean up after itself. */
  cleanup?: string[];
  /** How the script reports a failure when it does so itself rather than through script()'s line. */
  ownReport?: RegExp;
  stdin?: string;
}

const real = (name: string) => {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.stdout.trim();
};

/** Writes the stand-ins: each logs "<n> <name> <args>" and fails when n is MP_FAIL_AT (unless a condition). */
function stubDir(root: string, c: Case): string {
  const bin = join(root, '.bin');
  mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(c.stubs)) {
    const path = real(name);
    const run = body ?? (path ? `exec ${path} "$@"` : 'exit 0');
    writeFileSync(
      join(bin, name),
      [
        '#!/bin/sh',
        `line="${name} $*"`,
        // conditions are logged but never counted: their failure is a branch
        `if printf '%s\\n' "$line" | /bin/grep -Eq "$MP_CONDITIONS"; then printf 'c %s\\n' "$line" >> "$MP_LOG"; ${run}`,
        'exit $?; fi',
        'read n < "$MP_COUNT"; n=$((n+1)); echo "$n" > "$MP_COUNT"',
        `printf '%s %s\\n' "$n" "$line" >> "$MP_LOG"`,
        `if [ "$n" = "$MP_FAIL_AT" ]; then echo "${name}: stand-in failure" >&2; exit 7; fi`,
        run,
        '',
      ].join('\n'),
    );
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

function runCase(shell: string, c: Case, failAt: number) {
  const root = mkdtempSync(join(tmpdir(), 'mp-script-'));
  c.setup?.(root);
  const bin = stubDir(root, c);
  const log = join(root, '.log');
  const count = join(root, '.count');
  writeFileSync(log, '');
  writeFileSync(count, '0\n');
  const r = spawnSync(shell, ['-c', c.build(root)], {
    input: c.stdin ?? '',
    encoding: 'utf8',
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      MP_LOG: log,
      MP_COUNT: count,
      MP_FAIL_AT: String(failAt),
      MP_CONDITIONS: c.conditions?.source ?? '^$',
    },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => /^\d+ /.test(l))
    .map((l) => {
      const [n, name] = l.split(' ');
      return { n: Number(n), name };
    });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout, calls };
}

/** /etc/mail, /usr/sbin/sendmail in the builders' text point into the temp folder and at the stand-in. */
const inRoot = (text: string, root: string) => text.replaceAll('/etc/mail', `${root}/mail`).replaceAll('/usr/sbin/sendmail', 'sendmail');

const record: LineEntriesRecord = {
  kind: 'line-entries',
  path: '/PLACEHOLDER/aliases',
  entries: [{ wrote: ['root: ops@example.org'], before: ['root: admin'] }],
  created: false,
};

const cases: Case[] = [
  {
    name: 'makemapCommand (a map and its .db)',
    setup: (root) => {
      mkdirSync(join(root, 'mail'));
      writeFileSync(join(root, 'mail/authinfo'), 'AuthInfo:x "P:y"\n');
    },
    build: (root) => inRoot(makemapCommand('authinfo'), root),
    stubs: { makemap: ': > "$3.db"', getent: 'exit 0', chown: 'exit 0', chmod: null, rm: null },
    conditions: /^getent /,
  },
  {
    name: 'makeCommand (sendmail.cf and the maps)',
    setup: (root) => mkdirSync(join(root, 'mail')),
    build: (root) => inRoot(makeCommand(), root),
    // makemap is only looked for (`command -v`: no makemap, no sendmail to rebuild for)
    stubs: { make: 'exit 0', sendmail: 'exit 0', cat: null, makemap: 'exit 0' },
    ownReport: /^sendmail rejects /m,
  },
  {
    name: 'validateMcCommand (the candidate sendmail.mc)',
    setup: (root) => writeFileSync(join(root, 'candidate.mc'), 'divert(-1)\n'),
    build: (root) => inRoot(validateMcCommand(join(root, 'candidate.mc')), root),
    stubs: { m4: 'echo "V10"', sendmail: 'exit 0', rm: null, cat: null, tail: null },
    cleanup: ['cat', 'tail', 'rm'],
    ownReport: /^(m4|sendmail) rejects /m,
  },
  {
    name: 'atomicWriteCommand (with a validate command)',
    build: (root) => atomicWriteCommand(join(root, 'dir/f.conf'), 'root', 'root', '0640', 'grep -q . %s'),
    stdin: 'content\n',
    stubs: { mkdir: null, mktemp: null, cat: null, chown: 'exit 0', chmod: null, grep: null, mv: null, rm: null },
    cleanup: ['rm'],
  },
  {
    name: 'backupCommand (the journal copy before a change)',
    setup: (root) => {
      mkdirSync(join(root, 'gen/files'), { recursive: true });
      writeFileSync(join(root, 'a.conf'), 'a\n');
    },
    build: (root) => backupCommand(join(root, 'gen'), [join(root, 'a.conf'), join(root, 'absent.conf')]),
    stubs: { grep: null, mkdir: null, dirname: null, cp: null, mv: null },
    // dirname's failure shows as mkdir's (of an empty name), in the same command
    conditions: /^(grep -qxF |dirname )/,
    ownReport: /mailprov: cannot back up into /,
  },
  {
    name: 'restoreFilesCommand (a rollback puts files back)',
    setup: (root) => {
      mkdirSync(join(root, 'gen/files', root), { recursive: true });
      writeFileSync(join(root, 'gen/files', root, 'a.conf'), 'old\n');
      writeFileSync(join(root, 'gen/files', root, 'b.conf'), 'old b\n');
      writeFileSync(join(root, 'a.conf'), 'new\n');
      writeFileSync(join(root, 'b.conf'), 'new b\n');
      writeFileSync(join(root, 'c.conf'), 'created\n');
      writeFileSync(join(root, 'gen/absent'), `${join(root, 'c.conf')}\n`);
    },
    build: (root) =>
      restoreFilesCommand(
        join(root, 'gen'),
        ['a.conf', 'b.conf', 'c.conf'].map((f) => join(root, f)),
      ),
    stubs: { cmp: null, stat: null, grep: null, rm: null, cp: null, touch: null, mv: null },
    conditions: /^(cmp -s|stat |grep -qxF)/,
  },
  {
    name: 'lineEntriesCommand (the undo of entries in a shared file)',
    setup: (root) => writeFileSync(join(root, 'aliases'), 'root: ops@example.org\n'),
    build: (root) => lineEntriesCommand({ ...record, path: join(root, 'aliases') }),
    stdin: 'Wroot: ops@example.org\nBroot: admin\nE\n',
    stubs: { mktemp: null, tail: null, wc: null, awk: null, chown: 'exit 0', chmod: null, mv: null, rm: null },
    // tail feeds wc in a pipeline: wc's status is the step's
    conditions: /^tail /,
    cleanup: ['rm'],
  },
  {
    name: 'persistAddCommand (the firewall rule saved)',
    setup: (root) => writeFileSync(join(root, 'rules.v4'), '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n'),
    build: (root) => persistAddCommand(join(root, 'rules.v4'), 'INPUT', '-A INPUT -p tcp --dport 25 -j ACCEPT'),
    stubs: { mkdir: null, rm: null, cp: null, awk: null, mv: null, cat: null },
    // `{ cat file; true; }` feeds awk: a file that cannot be read is an empty one
    conditions: /^cat /,
    cleanup: ['rm'],
  },
  {
    name: 'persistRemoveCommand (the firewall undo)',
    setup: (root) =>
      writeFileSync(
        join(root, 'rules.v4'),
        '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 25 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n',
      ),
    build: (root) => persistRemoveCommand(join(root, 'rules.v4'), 'INPUT', '-A INPUT -p tcp --dport 25 -j ACCEPT', true),
    stubs: { rm: null, cp: null, awk: null, mv: null, cmp: null },
    conditions: /^cmp -s/,
    cleanup: ['rm'],
  },
  {
    name: 'newaliasesCommand (the aliases playbook)',
    setup: (root) => writeFileSync(join(root, 'aliases'), 'root: ops\n'),
    build: (root) => newaliasesCommand(join(root, 'aliases')),
    // newaliases names the file it rebuilt; the stand-in is found by `command -v` like the real one
    stubs: { newaliases: 'echo "$MP_ALIASES: 1 aliases, longest 3 bytes, 10 bytes total"', readlink: null, sed: null },
    // sed reads newaliases' output in a for loop's word list: what it finds is checked after
    conditions: /^sed /,
    // its output, and its exit status, are passed on
    ownReport: /^newaliases: stand-in failure$|did not rebuild the database of /m,
  },
];

describe('script()', () => {
  it.each(shells)('under %s: stops at the first failing command, names it and keeps its exit status', (shell) => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-script-'));
    const text = script(['true', `if [ -d ${dir} ]; then (exit 5); fi`, `touch ${dir}/after`]);
    const r = spawnSync(shell, ['-c', text], { encoding: 'utf8' });
    expect(r.status).toBe(5);
    expect(spawnSync('test', ['-e', `${dir}/after`]).status).toBe(1);
    expect(parseScriptFailure(r.stderr)).toEqual({ step: 2, of: 3, exit: 5, command: `if [ -d ${dir} ]; then (exit 5); fi` });
  });

  it.each(shells)('under %s: is not undone by the context it runs in (set -e is off in conditions, ours is not)', (shell) => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-script-'));
    const inner = script(['false', `touch ${dir}/after`]);
    // as a condition, or on the left of ||, a `set -e` script would run on past `false`
    const r = spawnSync(shell, ['-c', `set -e; if ! ( ${inner}\n); then echo failed; fi; ( ${inner}\n) || echo failed too`], {
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('failed\nfailed too\n');
    expect(spawnSync('test', ['-e', `${dir}/after`]).status).toBe(1);
  });

  it('ends early on an `exit 0` step, and leaves out empty commands', () => {
    const r = spawnSync('/bin/dash', ['-c', script(['', 'exit 0', 'false'])], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(script(['a', '', 'b'])).toContain('step 2 of 2');
  });
});

describe.each(shells)('every builder under %s: a failing command fails its step', (shell) => {
  it.each(cases)('$name', (c) => {
    const ok = runCase(shell, withAliases(c), 0);
    expect({ code: ok.code, stderr: ok.stderr }, ok.stdout).toEqual({ code: 0, stderr: expect.not.stringMatching(/mailprov: step/) });
    const n = ok.calls.length;
    expect(n).toBeGreaterThan(0);
    for (let k = 1; k <= n; k++) {
      const r = runCase(shell, withAliases(c), k);
      const failed = ok.calls[k - 1];
      const said = `${failed.name} failing (call ${k} of ${n})`;
      expect(r.code, `${said}: exit\n${r.stderr}`).not.toBe(0);
      // nothing after it but the failing step's own cleanup
      const later = r.calls.filter((x) => x.n > k && !(c.cleanup ?? []).includes(x.name));
      expect(later, `${said}: later calls`).toEqual([]);
      // said: by script()'s line (the step, its command, its exit status), or by the script's own words
      const report = parseScriptFailure(r.stderr);
      if (!report) expect(`${r.stderr}${r.stdout}`, `${said}: no report\n${r.stderr}`).toMatch(c.ownReport ?? /(?!)/);
      else expect(report.exit, said).toBe(r.code);
    }
  });
});

/** newaliases' stand-in names the aliases file of this case's temp folder. */
function withAliases(c: Case): Case {
  if (!c.stubs.newaliases) return c;
  return {
    ...c,
    build: (root) => `export MP_ALIASES=${join(root, 'aliases')}\n${c.build(root)}`,
  };
}

describe('a failing step names its command: no command holds a secret', () => {
  it('every step of a full sendmail plan (with a password, on Debian and RHEL) and the map proof carry it on stdin only', async () => {
    const { sendmailSettingsSchema, sendmailSmartHost } = await import('../../../playbooks/sendmail-smarthost.ts');
    const { mapDigestsCommand, mapEntries, renderedMaps } = await import('../../../playbooks/sendmail-smarthost/maps.ts');
    const { planHost } = await import('../../../src/engine/plan.ts');
    const { secret } = await import('../../../src/secrets/index.ts');
    const { centosOs, debianOs, hostFacts } = await import('../fixtures.ts');
    const password = 'Sekr1t-"pw\\x';
    const settings = sendmailSettingsSchema.parse({
      smartHost: 'smtp.gmail.com',
      relayFrom: ['192.168'],
      auth: { user: 'u@example.org', password: secret.value(password) },
    });
    const forms = [password, Buffer.from(password).toString('base64')];
    for (const os of [debianOs, centosOs(8)]) {
      const plan = planHost(sendmailSmartHost.definition.build(settings).resources, hostFacts({ os }));
      const steps = plan.changes.flatMap((c) => c.steps);
      expect(steps.some((s) => s.stdin?.includes(forms[1]))).toBe(true); // it is there, on stdin
      for (const s of steps) for (const f of forms) expect(`${s.label}\n${s.command}`).not.toContain(f);
    }
    const maps = renderedMaps(settings);
    const proof = mapDigestsCommand([...mapEntries('authinfo', maps.authinfo!), ...mapEntries('access', maps.access)]);
    for (const f of forms) expect(proof).not.toContain(f);
  });
});
