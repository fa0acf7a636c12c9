// The sandbox itself: real hosts with their own namespaces, SSH through 127.0.0.1 only, and a
// `down` that leaves nothing behind.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  madeNamespaces,
  readState,
  recordProcess,
  SANDBOX_OWNER,
  sandboxDown,
  sandboxProcesses,
  sandboxStatus,
  sandboxUp,
  type RecordedProcess,
} from '../../src/sandbox/index.ts';
import { connect, type Connection } from '../../src/transport/ssh.ts';
import { pidsNaming, useSandbox } from './helpers.ts';

const BIN = resolve(import.meta.dirname, '../../bin/mailprov.mjs');

function readProc(pid: number, what: 'cmdline' | 'stat'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'utf8');
  } catch {
    return undefined;
  }
}
const cmdlineOf = (pid: number) => readProc(pid, 'cmdline');
const statOf = (pid: number) => readProc(pid, 'stat');
const conns: Connection[] = [];

async function ssh(i: number): Promise<Connection> {
  const h = sandbox.state.hosts[i];
  const c = await connect({
    name: h.name,
    address: '127.0.0.1',
    port: h.port,
    user: 'root',
    privateKey: sandbox.state.privateKey,
    knownHosts: sandbox.state.knownHosts,
    hostKeyPolicy: 'strict',
    sudo: false,
    connectTimeoutMs: 5000,
  });
  conns.push(c);
  return c;
}

// a mixed fleet: relay1 is Debian 13 (the default), relay2 Debian 12
const sandbox = useSandbox(2, { releases: { relay2: 12 } });

afterAll(() => {
  for (const c of conns) c.close();
});

describe('sandbox hosts', () => {
  it('are reached over SSH on 127.0.0.1 with their own host name (with a domain)', async () => {
    const [a, b] = [await ssh(0), await ssh(1)];
    expect((await a.exec('hostname -f')).stdout.trim()).toBe('relay1.sandbox.test');
    expect((await b.exec('hostname')).stdout.trim()).toBe('relay2.sandbox.test');
    expect((await a.exec('. /etc/os-release; echo $ID $VERSION_ID')).stdout.trim()).toBe('debian 13');
    expect((await b.exec('. /etc/os-release; echo $ID $VERSION_ID')).stdout.trim()).toBe('debian 12');
    expect(sandbox.state.hosts.map((h) => [h.name, h.release])).toEqual([
      ['relay1', 13],
      ['relay2', 12],
    ]);
  });

  it('have their own PID namespace and do not have sendmail preinstalled', async () => {
    const a = await ssh(0);
    const ps = (await a.exec('ps -eo pid=,comm=')).stdout;
    expect(ps).toMatch(/^\s*1 tini$/m);
    expect(ps.split('\n').length).toBeLessThan(20);
    expect((await a.exec('command -v sendmail || echo none')).stdout.trim()).toBe('none');
    // but the local repository has it
    expect((await a.exec('apt-cache policy sendmail | grep Candidate')).stdout).toMatch(/Candidate: 8\./);
  });

  it('have their own firewall tables, isolated from each other and from this machine', async () => {
    const [a, b] = [await ssh(0), await ssh(1)];
    const rule = '-A INPUT -p tcp -m tcp --dport 4242 -j ACCEPT';
    expect((await a.exec(`iptables ${rule.replace('-A', '-A')}`)).code).toBe(0);
    expect((await a.exec('iptables -S INPUT')).stdout).toContain(rule);
    expect((await b.exec('iptables -S INPUT')).stdout).not.toContain('4242');
    // this machine's own table, read for real (the sandbox runs as root): a table that cannot be read fails here
    const mine = execFileSync('iptables', ['-S', 'INPUT'], { encoding: 'utf8' });
    expect(mine).toMatch(/^-P INPUT \w+$/m);
    expect(mine).not.toContain('4242');
  });

  it('have only a loopback network, and answer name lookups at once', async () => {
    const a = await ssh(0);
    const links = (await a.exec('ip -o link show')).stdout.trim().split('\n');
    expect(links).toHaveLength(1);
    expect(links[0]).toContain('lo:');
    // "at once": the host's own resolver answers (not found), where one that did not answer would be
    // waited on for the 30 s asked here; `timeout` ends that wait at 10 s with 124. No clock of ours.
    expect((await a.exec('cat /etc/resolv.conf')).stdout).toMatch(/^nameserver 127\.0\.0\.1$/m);
    const r = await a.exec(
      "getent hosts smtp.sandbox.test; RES_OPTIONS='timeout:30 attempts:1' timeout 10 getent hosts nothing.invalid; echo rc=$?",
    );
    expect(r.stdout).toContain('127.0.0.2');
    expect(r.stdout).toContain('rc=2');
  });

  it('status reports every host up', async () => {
    const s = await sandboxStatus(sandbox.state.dir);
    expect(s.hosts.map((h) => h.up)).toEqual([true, true]);
  });
});

describe('sandbox lifecycle', () => {
  it('down removes every process and mount, also after a crashed up; up works again', async () => {
    const dir = `${sandbox.state.dir}-cycle`;
    const s1 = await sandboxUp({ dir, count: 3 });
    expect(sandboxProcesses(s1).map((p) => p.what)).toEqual(expect.arrayContaining(['smart host', 'relay3 host', 'forwarder']));
    // simulate a crash: kill only the forwarder; the hosts' namespaces are left running
    for (const p of sandboxProcesses(s1)) if (p.what === 'forwarder') process.kill(p.pid, 'SIGKILL');
    const s2 = await sandboxUp({ dir, count: 3 }); // notices the broken sandbox and starts afresh
    expect(s2.hosts.map((h) => h.name)).toEqual(s1.hosts.map((h) => h.name));
    expect((await sandboxStatus(dir)).hosts.every((h) => h.up)).toBe(true);
    await sandboxDown({ dir });
    expect(pidsNaming(dir)).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('down stops what an up killed halfway had started, from the processes it recorded as they started', async () => {
    const dir = `${sandbox.state.dir}-crashed`;
    const up = spawn(process.execPath, [BIN, 'sandbox', 'up', '2', '--dir', dir], {
      stdio: 'ignore',
      env: { ...process.env, MAILPROV_FROM_SOURCE: '1' },
    });
    try {
      const deadline = Date.now() + 60_000;
      while (!readState(dir)?.processes?.some((p) => p.what === 'relay2 host')) {
        if (Date.now() > deadline) throw new Error('sandbox up did not start its hosts');
        await sleep(20);
      }
    } finally {
      up.kill('SIGKILL');
    }
    await new Promise((r) => up.once('exit', r));
    expect(readState(dir)!.ready).toBe(false);
    expect(pidsNaming(dir).length).toBeGreaterThan(0); // the hosts outlived their up
    await sandboxDown({ dir });
    expect(pidsNaming(dir)).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(dir);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('sandbox down acts only on what it owns', () => {
  const folders: string[] = [];
  const others: ChildProcess[] = [];
  afterAll(() => {
    for (const p of others) p.kill('SIGKILL');
    for (const d of folders) rmSync(d, { recursive: true, force: true });
  });

  /** A folder of someone's files. */
  function unrelatedFolder(): string {
    const dir = mkdtempSync(join(tmpdir(), 'not-a-sandbox-'));
    folders.push(dir);
    writeFileSync(join(dir, 'notes.txt'), 'keep me\n');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'data'), 'and me\n');
    return dir;
  }

  /** An unrelated process whose command line names a file in the folder, as the old `down` looked for. */
  async function processNaming(dir: string, unshare: string[] = []): Promise<ChildProcess> {
    const script = ['bash', '-c', 'exec -a "$0/foo" sleep 300', dir];
    // with unshare flags: in namespaces made for it, as the sandbox's processes are (unshare execs bash: one pid)
    const child = unshare.length
      ? spawn('unshare', [...unshare, ...script], { stdio: 'ignore' })
      : spawn(script[0], script.slice(1), { stdio: 'ignore' });
    others.push(child);
    for (let i = 0; !cmdlineOf(child.pid!)?.startsWith(`${dir}/foo`); i++) {
      if (i > 100) throw new Error('the unrelated process did not start');
      await sleep(20);
    }
    return child;
  }

  const isAlive = (pid: number) => /^\S+ \(.*\) [^ZX] /.test(statOf(pid) ?? '');

  function expectUntouched(dir: string, other: ChildProcess): void {
    expect(readdirSync(dir).sort()).toEqual(['notes.txt', 'sub']);
    expect(readFileSync(join(dir, 'sub', 'data'), 'utf8')).toBe('and me\n');
    expect(isAlive(other.pid!)).toBe(true);
  }

  it('refuses a folder with no state file, with a clear error, through the CLI (--dir and the environment)', async () => {
    const dir = unrelatedFolder();
    const other = await processNaming(dir);
    for (const [args, env] of [
      [['--dir', dir], {}],
      [[], { MAILPROV_SANDBOX_DIR: dir }],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, 'sandbox', 'down', ...args], {
        encoding: 'utf8',
        cwd: tmpdir(),
        env: { ...process.env, MAILPROV_FROM_SOURCE: '1', ...env },
      });
      expect(r.stderr).toBe(`mailprov: ${dir} does not hold a mailprov sandbox (no state.json): refusing to delete it\n`);
      expect(r.status).toBe(1);
      expectUntouched(dir, other);
    }
  });

  it('refuses a state.json that mailprov did not write, or that names another folder', async () => {
    const dir = unrelatedFolder();
    const other = await processNaming(dir);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ dir, hosts: [], processes: [] }), { mode: 0o600 });
    await expect(sandboxDown({ dir })).rejects.toThrow(`${dir}/state.json was not written by this mailprov's \`sandbox up\``);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ owner: SANDBOX_OWNER, dir: '/elsewhere', processes: [] }), { mode: 0o600 });
    await expect(sandboxDown({ dir })).rejects.toThrow(
      `${dir}/state.json is the state of a sandbox in /elsewhere, not in ${dir}: refusing to delete it`,
    );
    rmSync(join(dir, 'state.json'));
    expectUntouched(dir, other);
  });

  it('up refuses a folder of other files, which its down would delete', async () => {
    const dir = unrelatedFolder();
    const other = await processNaming(dir);
    await expect(sandboxUp({ dir, count: 1 })).rejects.toThrow(
      `${dir} does not hold a mailprov sandbox (no state.json): refusing to use it for a sandbox`,
    );
    expectUntouched(dir, other);
  });

  it('kills a recorded process only while its start time matches (a reused pid is left alone)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-it-owned-'));
    folders.push(dir);
    const [reused, ours] = [await processNaming(dir), await processNaming(dir, ['--ipc'])];
    const start = (pid: number) => recordProcess(pid, 'x')!.start;
    const processes: RecordedProcess[] = [
      { pid: reused.pid!, start: String(Number(start(reused.pid!)) - 1), what: 'relay1 host', ns: madeNamespaces(reused.pid!) },
      { pid: ours.pid!, start: start(ours.pid!), what: 'relay1 forwarder', ns: madeNamespaces(ours.pid!) },
    ];
    sandboxFolder(dir, processes);
    await sandboxDown({ dir });
    expect(isAlive(reused.pid!)).toBe(true);
    expect(isAlive(ours.pid!)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  // issue 24: processes.jsonl named any process, and down stopped it and its whole tree
  it('never signals a process outside the namespaces the sandbox made, whatever its state says, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-it-ns-'));
    folders.push(dir);
    // a process of this machine's own namespaces, and one in a namespace made for it, as the sandbox's are
    const [foreign, ours] = [await processNaming(dir), await processNaming(dir, ['--ipc'])];
    const rec = (pid: number, what: string) => recordProcess(pid, what)!;
    const machine = Object.fromEntries(['net', 'mnt', 'ipc'].map((k) => [k, readlinkSync(`/proc/${foreign.pid}/ns/${k}`)]));
    for (const [record, why] of [
      // the pid and start time are right: only the namespaces tell it apart
      [
        rec(foreign.pid!, 'relay1 host'),
        "recorded without the namespaces the sandbox made for it (not written by this mailprov's `sandbox up`)",
      ],
      [
        { ...rec(foreign.pid!, 'relay1 host'), ns: machine },
        `its recorded net namespace ${machine.net} is this machine's own, not one the sandbox made`,
      ],
      [
        { ...rec(foreign.pid!, 'relay1 host'), ns: madeNamespaces(ours.pid!) },
        `it is in ipc namespace ${machine.ipc}, not ${madeNamespaces(ours.pid!).ipc}, which the sandbox made for it`,
      ],
    ] as const) {
      sandboxFolder(dir, []);
      writeFileSync(join(dir, 'processes.jsonl'), `${JSON.stringify(record)}\n`, { mode: 0o600 });
      const err = await sandboxDown({ dir }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        `refusing to stop 1 process(es) the state of ${dir} names, which are not in the sandbox's namespaces: ` +
          `${foreign.pid} (relay1 host, sleep): ${why}; ${dir} is left as it is (stop the sandbox's own processes and delete it by hand, once checked)`,
      );
      expect(isAlive(foreign.pid!)).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['processes.jsonl', 'state.json']);
    }
    // the one in its own namespace, recorded with it, is stopped beside the refused one
    sandboxFolder(dir, [{ ...rec(ours.pid!, 'smart host'), ns: madeNamespaces(ours.pid!) }]);
    writeFileSync(join(dir, 'processes.jsonl'), `${JSON.stringify(rec(foreign.pid!, 'relay1 host'))}\n`, { mode: 0o600 });
    await expect(sandboxDown({ dir })).rejects.toThrow(/^refusing to stop 1 process\(es\)/);
    expect(isAlive(ours.pid!)).toBe(false);
    expect(isAlive(foreign.pid!)).toBe(true);
  });
});

// issue 24: `up` took any empty folder (the default ./.sandbox in /tmp), whose owner could then write
// the state that `down`, as root, acts on
describe("the sandbox folder is root's alone", () => {
  const folders: string[] = [];
  afterAll(() => {
    for (const d of folders) rmSync(d, { recursive: true, force: true });
  });
  const fresh = (prefix = 'mailprov-it-perm-') => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    folders.push(dir);
    return dir;
  };
  const cli = (args: string[], cwd = tmpdir()) =>
    spawnSync(process.execPath, [BIN, 'sandbox', ...args], { encoding: 'utf8', cwd, env: { ...process.env, MAILPROV_FROM_SOURCE: '1' } });

  it('up, status and down refuse a folder another user owns, naming its path, owner and mode', async () => {
    const dir = fresh();
    sandboxFolder(dir, []);
    chownSync(dir, 65534, 65534);
    const refusal = `${dir} (owner uid 65534, mode 0700): owned by uid 65534, not by uid 0 (root) who runs mailprov: refusing to use it as a sandbox folder`;
    await expect(sandboxUp({ dir, count: 1 })).rejects.toThrow(refusal);
    await expect(sandboxDown({ dir })).rejects.toThrow(refusal);
    await expect(sandboxStatus(dir)).rejects.toThrow(refusal);
    const down = cli(['down', '--dir', dir]);
    expect([down.status, down.stderr]).toEqual([1, expect.stringContaining(`mailprov: ${refusal}`)]);
    expect(readdirSync(dir).sort()).toEqual(['processes.jsonl', 'state.json']);
  });

  it('up and down refuse a folder others may write (mode 0777), and state files others may write or own', async () => {
    const dir = fresh();
    sandboxFolder(dir, []);
    chmodSync(dir, 0o777);
    await expect(sandboxUp({ dir, count: 1 })).rejects.toThrow(
      `${dir} (owner uid 0 (root), mode 0777): mode 0777 lets others read or change it`,
    );
    await expect(sandboxDown({ dir })).rejects.toThrow(`${dir} (owner uid 0 (root), mode 0777): mode 0777 lets others read or change it`);
    chmodSync(dir, 0o700);
    chmodSync(join(dir, 'state.json'), 0o666);
    await expect(sandboxDown({ dir })).rejects.toThrow(
      `${dir}/state.json (owner uid 0 (root), mode 0666): mode 0666 lets others read or change it: refusing to read it`,
    );
    chmodSync(join(dir, 'state.json'), 0o600);
    chownSync(join(dir, 'processes.jsonl'), 65534, 65534);
    await expect(sandboxDown({ dir })).rejects.toThrow(
      `${dir}/processes.jsonl (owner uid 65534, mode 0600): owned by uid 65534, not by uid 0 (root) who runs mailprov`,
    );
    expect(readdirSync(dir).sort()).toEqual(['processes.jsonl', 'state.json']);
  });

  it('refuses the default ./.sandbox that another user made in a world-writable folder like /tmp', () => {
    const tmp = fresh('mailprov-it-tmp-');
    chmodSync(tmp, 0o1777);
    mkdirSync(join(tmp, '.sandbox'), { mode: 0o700 });
    chownSync(join(tmp, '.sandbox'), 65534, 65534);
    const up = cli(['up', '1'], tmp);
    expect(up.status).toBe(1);
    expect(up.stderr).toContain(
      `mailprov: ${tmp}/.sandbox (owner uid 65534, mode 0700): owned by uid 65534, not by uid 0 (root) who runs mailprov`,
    );
    expect(readdirSync(join(tmp, '.sandbox'))).toEqual([]);
    // and a folder that does not exist yet, in a folder anyone may write without the sticky bit
    chmodSync(tmp, 0o777);
    const open = cli(['up', '1', '--dir', join(tmp, 'new')]);
    expect(open.stderr).toContain(`${tmp}/new: its folder ${tmp} (owner uid 0 (root), mode 0777) lets others replace it`);
    expect(existsSync(join(tmp, 'new'))).toBe(false);
  });
});

/** A sandbox folder as `up` leaves it: root's, 0700, its state and process log 0600. */
function sandboxFolder(dir: string, processes: RecordedProcess[]): void {
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ owner: SANDBOX_OWNER, dir, ready: true, processes, hosts: [] }), { mode: 0o600 });
  writeFileSync(join(dir, 'processes.jsonl'), '', { mode: 0o600 });
}
