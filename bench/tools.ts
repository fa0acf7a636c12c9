// The things bench/run.ts times on a sandbox: mailprov (the CLI, as a user runs it), ansible-playbook
// with the equivalent playbook, the SSH floor, and mailprov's own apply commands replayed "by hand".
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxState } from '../src/sandbox/index.ts';
import { secret } from '../src/secrets/index.ts';
import { renderAccess, renderAuthinfo, renderMc, sendmailSettingsSchema } from '../playbooks/sendmail-smarthost/index.ts';
import { localSync } from '../src/sandbox/local.ts';
import { shellQuote } from '../src/transport/quote.ts';
import { median, sshArgs, timed, timedAll, type Timed } from './lib.ts';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const PLAYBOOK = join(ROOT, 'bench/ansible/sendmail-smarthost.yml');

/** The mailprov under test: this checkout, or (by default) a snapshot of it, see snapshotMailprov. */
export const cli = {
  root: ROOT,
  bin: join(ROOT, 'bin/mailprov.mjs'),
  inventory: join(ROOT, 'inventories/sandbox.ts'),
};

export interface Snapshot {
  dir: string;
  commit: string;
  /** Files of the snapshot that differ from the commit (uncommitted work included in the measurement). */
  uncommitted: string[];
  built: boolean;
  buildError?: string;
}

/**
 * Copies mailprov as it is now (bin, src, playbooks, inventories, package.json; node_modules
 * linked) into the work folder and builds its bundle there, then points `cli` at the copy. A run
 * of 20 minutes then measures one version of mailprov from start to end, even while someone edits
 * src/ (which would send this checkout's CLI from its stale bundle back to tsx halfway through).
 */
export function snapshotMailprov(work: string): Snapshot {
  const dir = join(work, 'mailprov');
  for (const d of ['bin', 'src', 'playbooks', 'inventories'])
    cpSync(join(ROOT, d), join(dir, d), { recursive: true, preserveTimestamps: true });
  for (const f of ['package.json', 'tsconfig.json']) if (existsSync(join(ROOT, f))) copyFileSync(join(ROOT, f), join(dir, f));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const git = (...args: string[]) => localSync({ nothrow: true })`git -C ${ROOT} ${args}`.stdout.trimEnd();
  const snap: Snapshot = {
    dir,
    commit: git('rev-parse', 'HEAD'),
    uncommitted: git('status', '--porcelain', '--', 'bin', 'src', 'playbooks', 'inventories', 'package.json').split('\n').filter(Boolean),
    built: false,
  };
  if (existsSync(join(dir, 'bin/build.mjs'))) {
    const r = localSync({ cwd: dir, nothrow: true })`${process.execPath} ${join(dir, 'bin/build.mjs')}`;
    snap.built = r.ok;
    if (!snap.built) snap.buildError = `${r.stdout}${r.stderr}`.slice(-2000);
  }
  Object.assign(cli, { root: dir, bin: join(dir, 'bin/mailprov.mjs'), inventory: join(dir, 'inventories/sandbox.ts') });
  return snap;
}

/** A run's outcome: its time plus whether it did what the scenario expects. */
export interface Outcome extends Timed {
  ok: boolean;
  detail: string;
}

/** Numbered output files in the work folder, so every run's output can be read afterwards. */
let seq = 0;
const outFile = (work: string, name: string) => join(work, 'out', `${String(++seq).padStart(3, '0')}-${name}`);

// ---------------------------------------------------------------------------------------------
// The files both tools write, rendered by mailprov's own renderers with the settings of
// inventories/sandbox.ts (keep the two in step). The password differs per sandbox.

export interface Rendered {
  '/etc/mail/sendmail.mc': string;
  '/etc/mail/authinfo': string;
  '/etc/mail/access': string;
}

export function renderFiles(state: SandboxState): Rendered {
  const settings = sendmailSettingsSchema.parse({
    smartHost: state.smartHost.name,
    smartHostPort: 587,
    auth: { user: state.smartHost.user, password: secret.file(state.smartHost.passwordFile) },
    listen: ['0.0.0.0'],
    relayFrom: ['192.168'],
    verify: { recipient: 'ops@example.com' },
  });
  const auth = settings.auth!;
  return {
    // the sandbox hosts are Debian 12, as the facts will say
    '/etc/mail/sendmail.mc': renderMc(settings, { family: 'debian', major: 12 }),
    '/etc/mail/authinfo': renderAuthinfo(settings.smartHost, auth, auth.password.reveal()),
    '/etc/mail/access': renderAccess(settings.relayFrom, { smartHost: settings.smartHost, policy: settings.smartHostTls }),
  };
}

// ---------------------------------------------------------------------------------------------
// mailprov: `mailprov apply|plan inventories/sandbox.ts --json`, aimed at the sandbox through
// MAILPROV_SANDBOX_DIR, run three ways:
//   installed  `mailprov ...`, the bin on PATH of the packed tarball installed with `npm install -g`
//              into a prefix of the work folder (installMailprov): what a user who runs it often has,
//              and the figure the targets are about
//   npx        `npx mailprov ...` in the clone (npm starts, finds the package's own bin, runs it);
//              --offline and --no, so npm never asks a registry or installs anything, and npm's
//              cache (its _npx link and logs) is a folder of the work folder
//   node       `node bin/mailprov.mjs ...`, the clone's bin without npm (profiles, start times)
// Each way the run logs (.mailprov/runs) land in the work folder and go when the bench ends (with
// --live, npx's land in the checkout's own .mailprov/, which git ignores).

export type Via = 'installed' | 'npx' | 'node';

/** Where installMailprov put the installed copy: its prefix (bin/mailprov, lib/node_modules/mailprov). */
export const installed = { prefix: '' };

/**
 * `npm pack` of the mailprov under test, then `npm install -g` of the tarball into a prefix of the
 * work folder, as a user installs it (dependencies from npm's cache only, never the registry):
 * nothing outside the work folder changes. Untimed.
 */
export function installMailprov(work: string): string {
  const prefix = join(work, 'prefix');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const pack = localSync({ cwd: cli.root, env, what: 'npm pack' })`npm pack --pack-destination ${work} --silent`;
  const tarball = join(work, pack.stdout.trim().split('\n').pop()!);
  localSync({
    cwd: work,
    env,
    what: 'npm install -g',
  })`npm install -g --prefix ${prefix} ${tarball} --offline --no-audit --no-fund --silent`;
  installed.prefix = prefix;
  return prefix;
}

/** The process that runs `mailprov <args>` one way or another. */
export function mailprovCommand(
  work: string,
  via: Via,
  args: string[],
): { cmd: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv } {
  if (via === 'node') return { cmd: process.execPath, args: [cli.bin, ...args], cwd: join(work, 'cwd'), env: {} };
  if (via === 'installed') {
    if (!installed.prefix) throw new Error('mailprov is not installed yet (installMailprov)');
    const bin = join(installed.prefix, 'bin');
    return { cmd: 'mailprov', args, cwd: join(work, 'cwd'), env: { PATH: `${bin}:${process.env.PATH}` } };
  }
  return {
    cmd: 'npx',
    args: ['--no', '--offline', 'mailprov', ...args],
    cwd: cli.root,
    env: { npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false' },
  };
}

export interface MailprovRun extends Outcome {
  json?: MailprovJson;
  /** Which code the CLI ran: the esbuild bundle in dist/, or src/ through tsx. */
  from: 'dist' | 'src';
  /** What it wrote on stderr (a MAILPROV_TRACE=1 run: its phase breakdown). */
  stderr?: string;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The same test bin/mailprov.mjs makes: the bundle runs when dist/.built is newer than src/ and
 * playbooks/ (others editing src/ during a bench run send the CLI back to tsx; the JSON says so).
 */
export function cliRunsFrom(env: NodeJS.ProcessEnv = process.env, via: Via = 'node'): 'dist' | 'src' {
  // an installed copy always runs the bundle it was packed with (see bin/mailprov.mjs)
  if (via === 'installed') return 'dist';
  const stamp = join(cli.root, 'dist', '.built');
  if (!existsSync(stamp) || env.MAILPROV_FROM_SOURCE) return 'src';
  return statSync(stamp).mtimeMs >= Math.max(newest(join(cli.root, 'src')), newest(join(cli.root, 'playbooks'))) ? 'dist' : 'src';
}

export interface MailprovJson {
  ok: boolean;
  summary: { hosts: number; changes: number; failed: number };
  hosts: {
    host: string;
    status: string;
    durationMs: number;
    error: string | null;
    changes: { resource: string; summary: string; commands: { label: string; command: string; sendsContent: boolean }[] }[];
  }[];
}

export async function mailprov(
  work: string,
  state: SandboxState,
  mode: 'apply' | 'plan',
  expect: 'changes' | 'none',
  more: { via?: Via; nodeArgs?: string[]; env?: NodeJS.ProcessEnv; forks?: number; args?: string[] } = {},
): Promise<MailprovRun> {
  const via = more.via ?? 'installed';
  const out = outFile(work, `mailprov-${via}-${mode}.json`);
  const forks = String(more.forks ?? state.hosts.length);
  const run = mailprovCommand(work, via, [mode, cli.inventory, '--json', '--forks', forks, ...(more.args ?? [])]);
  const env = { ...process.env, ...run.env, MAILPROV_SANDBOX_DIR: state.dir, FORCE_COLOR: '0', ...more.env };
  const from = cliRunsFrom(env, via);
  // node options (--cpu-prof): node runs the bin itself, the installed one for an installed run
  if (more.nodeArgs && via !== 'npx') {
    const bin = via === 'installed' ? join(installed.prefix, 'lib/node_modules/mailprov/bin/mailprov.mjs') : cli.bin;
    Object.assign(run, { cmd: process.execPath, args: [...more.nodeArgs, bin, ...run.args.slice(via === 'node' ? 1 : 0)] });
  }
  const r = await timed(run.cmd, run.args, {
    cwd: run.cwd,
    env,
    stdoutFile: out,
    stderrFile: `${out}.stderr`,
    // the peak RSS of mailprov's process: under npx the largest process may be npm's
    rssFile: via === 'npx' ? undefined : `${out}.rss`,
  });
  let json: MailprovJson | undefined;
  const stderr = existsSync(`${out}.stderr`) ? readFileSync(`${out}.stderr`, 'utf8') : '';
  try {
    json = JSON.parse(readFileSync(out, 'utf8')) as MailprovJson;
  } catch {
    /* reported below */
  }
  // plan exits 2 when changes are pending, 0 when none; apply exits 0 when every host succeeded
  const wantCode = mode === 'plan' && expect === 'changes' ? 2 : 0;
  const changes = json?.summary.changes ?? -1;
  const ok = !!json && json.ok && r.code === wantCode && (expect === 'none' ? changes === 0 : changes > 0);
  const detail = json
    ? `exit ${r.code}, ${changes} change(s), ${json.summary.failed} failed host(s)`
    : `exit ${r.code}, no JSON (see ${out}.stderr)`;
  return { ...r, ok, detail: ok ? detail : `${detail}; output in ${out}`, json, from, stderr };
}

// ---------------------------------------------------------------------------------------------
// Ansible: an INI inventory and an ansible.cfg generated from the sandbox state, pipelining on,
// forks = number of hosts, host keys checked against the sandbox's known_hosts.

export interface AnsibleSetup {
  dir: string;
  inventory: string;
  env: NodeJS.ProcessEnv;
  controlDir: string;
}

export function ansibleSetup(work: string, state: SandboxState, label: string): AnsibleSetup {
  const dir = join(work, `ansible-${label}`);
  const files = join(dir, 'files');
  const controlDir = join(dir, 'cp');
  for (const d of [files, controlDir, join(dir, 'tmp'), join(dir, 'home')]) mkdirSync(d, { recursive: true });
  for (const [path, text] of Object.entries(renderFiles(state))) {
    writeFileSync(join(files, path.split('/').pop()!), text, { mode: 0o600 });
  }
  const inventory = join(dir, 'hosts.ini');
  writeFileSync(
    inventory,
    [
      '[relays]',
      ...state.hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port}`),
      '',
      '[relays:vars]',
      'ansible_user=root',
      `ansible_ssh_private_key_file=${state.privateKey}`,
      `ansible_ssh_common_args='-o UserKnownHostsFile=${state.knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'`,
      `files_dir=${files}`,
      '',
    ].join('\n'),
  );
  const cfg = join(dir, 'ansible.cfg');
  writeFileSync(
    cfg,
    [
      '[defaults]',
      `forks = ${state.hosts.length}`,
      'host_key_checking = True',
      // named, so Ansible skips interpreter discovery (one round trip per host less)
      'interpreter_python = /usr/bin/python3',
      'retry_files_enabled = False',
      'nocolor = True',
      `local_tmp = ${join(dir, 'tmp')}`,
      '',
      '[ssh_connection]',
      'pipelining = True',
      // Ansible's default ControlPersist=60s stays; bench/run.ts closes the masters after every run,
      // so each timed run starts without an SSH connection, as mailprov's do.
      `control_path_dir = ${controlDir}`,
      '',
    ].join('\n'),
  );
  // ANSIBLE_HOME keeps ~/.ansible untouched; ANSIBLE_CONFIG makes the file above the only config.
  const env = { ...process.env, ANSIBLE_CONFIG: cfg, ANSIBLE_HOME: join(dir, 'home'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' };
  return { dir, inventory, env, controlDir };
}

/** Closes the SSH masters (ControlPersist) an ansible-playbook run left behind. */
export function closeAnsibleMasters(setup: AnsibleSetup): void {
  for (const sock of existsSync(setup.controlDir) ? readdirSync(setup.controlDir) : []) {
    localSync({ nothrow: true })`ssh -F /dev/null -o ControlPath=${join(setup.controlDir, sock)} -O exit bench`;
  }
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  hosts: number;
}

export function parseRecap(text: string): Recap {
  const recap: Recap = { ok: 0, changed: 0, failed: 0, unreachable: 0, hosts: 0 };
  const part = text.split(/^PLAY RECAP \*+$/m)[1] ?? '';
  for (const m of part.matchAll(/^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    recap.hosts++;
    recap.ok += Number(m[1]);
    recap.changed += Number(m[2]);
    recap.unreachable += Number(m[3]);
    recap.failed += Number(m[4]);
  }
  return recap;
}

export async function ansible(
  work: string,
  setup: AnsibleSetup,
  state: SandboxState,
  mode: 'apply' | 'check',
  expect: 'changes' | 'none',
): Promise<Outcome & { recap: Recap }> {
  const out = outFile(work, `ansible-${mode}.log`);
  const args = ['-i', setup.inventory, PLAYBOOK, ...(mode === 'check' ? ['--check', '--diff'] : [])];
  const r = await timed('ansible-playbook', args, { cwd: setup.dir, env: setup.env, stdoutFile: out, rssFile: `${out}.rss` });
  closeAnsibleMasters(setup); // untimed: after the process has exited
  const recap = parseRecap(readFileSync(out, 'utf8'));
  const ok =
    r.code === 0 &&
    recap.hosts === state.hosts.length &&
    recap.failed === 0 &&
    recap.unreachable === 0 &&
    (expect === 'none' ? recap.changed === 0 : recap.changed > 0);
  const detail = `exit ${r.code}, changed=${recap.changed} failed=${recap.failed} unreachable=${recap.unreachable} on ${recap.hosts} host(s)`;
  return { ...r, ok, detail: ok ? detail : `${detail}; output in ${out}`, recap };
}

/** Pre-installs python3-apt on every host (untimed): Ansible's apt module needs it, --check too. */
export function python3AptCommand(): string {
  return 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-apt >/dev/null';
}

// ---------------------------------------------------------------------------------------------
// The floor: N `ssh ... true` at once, each its own connection: what any SSH tool pays at least.

export async function floor(work: string, state: SandboxState): Promise<Outcome> {
  const out = outFile(work, 'floor');
  const r = await timedAll(
    state.hosts.map((h) => ({ cmd: 'ssh', args: [...sshArgs(state, h), 'true'], opts: { stdoutFile: `${out}.${h.name}` } })),
  );
  const ok = r.codes.every((c) => c === 0);
  return {
    seconds: r.seconds,
    code: ok ? 0 : 1,
    ok,
    detail: ok ? `${state.hosts.length} connection(s)` : `exit codes ${r.codes.join(',')}; output in ${out}.<host>`,
  };
}

// ---------------------------------------------------------------------------------------------
// "By hand": mailprov's own apply commands, taken from a dry run's JSON, replayed over ONE ssh
// connection per host (one shell reading a script), file contents piped in where mailprov sends
// them on stdin. No facts, no lock, no journal or backups, no verification: just the commands.

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * One shell script per host. A marker line with the host's clock (the sandbox hosts share this
 * machine's kernel clock) goes before each change, for a per-change comparison with mailprov's own
 * timeline; `date` costs a millisecond or two per change.
 */
export function handScript(host: MailprovJson['hosts'][number], files: Rendered): string {
  const marker = (what: string) => `echo "@@ $(date +%s%N) "${shellQuote(what)}`;
  const lines = [`PATH=${SAFE_PATH}; export PATH`, marker('start')];
  for (const change of host.changes) {
    lines.push(marker(`applying: ${change.summary}`));
    for (const step of change.commands) {
      const fail = `|| { echo ${shellQuote(`failed: ${step.label}`)} >&2; exit 1; }`;
      if (step.sendsContent) {
        const path = change.resource.replace(/^file:/, '') as keyof Rendered;
        if (!(path in files)) throw new Error(`by-hand replay: no content known for ${change.resource} (${step.label})`);
        // each step in its own subshell: steps use set -e, traps and exit, as in their own sh -c
        lines.push(`printf '%s' ${shellQuote(files[path])} | (\n${step.command}\n) ${fail}`);
      } else {
        lines.push(`(\n${step.command}\n) </dev/null ${fail}`);
      }
    }
  }
  lines.push(marker('end'));
  return lines.join('\n') + '\n';
}

export interface HandOutcome extends Outcome {
  /** Per change (and the connection before the first), median and max over the hosts, in ms. */
  phases: { phase: string; medianMs: number; maxMs: number }[];
}

/** Writes each host's script (untimed) and returns a function that times the replay. */
export function prepareHand(work: string, state: SandboxState, plan: MailprovJson): () => Promise<HandOutcome> {
  const files = renderFiles(state);
  const scripts = state.hosts.map((h) => {
    const planned = plan.hosts.find((p) => p.host === h.name);
    if (!planned || planned.changes.length === 0) throw new Error(`by-hand replay: the dry run planned nothing for ${h.name}`);
    const path = join(work, `hand-${basename(state.dir)}-${h.name}.sh`);
    writeFileSync(path, handScript(planned, files), { mode: 0o600 });
    return path;
  });
  return async () => {
    const out = outFile(work, 'hand');
    const spawnedAt = Date.now();
    const r = await timedAll(
      state.hosts.map((h, i) => ({
        cmd: 'ssh',
        args: [...sshArgs(state, h), 'sh -s'],
        opts: { stdoutFile: `${out}.${h.name}`, stdinFile: scripts[i] },
      })),
    );
    const ok = r.codes.every((c) => c === 0);
    // per-change durations from the markers: each lasts until the next marker
    const durations = new Map<string, number[]>();
    for (const h of state.hosts) {
      const marks = [...readFileSync(`${out}.${h.name}`, 'utf8').matchAll(/^@@ (\d+) (.*)$/gm)].map((m) => ({
        t: Number(m[1]) / 1e6,
        what: m[2],
      }));
      const all = [{ t: spawnedAt, what: 'connecting (ssh process, TCP, handshake, auth, shell)' }, ...marks];
      for (let i = 0; i < all.length - 1; i++) durations.set(all[i].what, [...(durations.get(all[i].what) ?? []), all[i + 1].t - all[i].t]);
    }
    const phases = [...durations]
      .filter(([what]) => what !== 'start')
      .map(([phase, xs]) => ({ phase, medianMs: Math.round(median(xs)), maxMs: Math.round(Math.max(...xs)) }));
    return {
      seconds: r.seconds,
      code: ok ? 0 : 1,
      ok,
      detail: ok ? `${scripts.length} script(s) replayed` : `exit codes ${r.codes.join(',')}; output in ${out}.<host>`,
      phases,
    };
  };
}
