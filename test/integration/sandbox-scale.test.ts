// A sandbox of many hosts (issue 18): every host on a port of its own through the one forwarder,
// every host answering SSH, a dry run over all of them at once, and a `down` that returns only when
// every process of the sandbox (hosts' namespaces, sshd's per-connection children) has exited.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { isRunning, relaySettings, sandboxDown, type RecordedProcess } from '../../src/sandbox/index.ts';
import { descendants, processTree } from '../../src/sandbox/processes.ts';
import { connect, type Connection } from '../../src/transport/ssh.ts';
import { pidsNaming, sandboxInventory, useSandbox } from './helpers.ts';
import { runHosts } from '../../src/engine/index.ts';

const N = 48;
// the last test takes it down itself; useSandbox's afterAll then finds nothing left, and checks so
const sandbox = useSandbox(N);

const target = (i: number) => ({
  name: sandbox.state.hosts[i].name,
  address: '127.0.0.1',
  port: sandbox.state.hosts[i].port,
  user: 'root',
  privateKey: sandbox.state.privateKey,
  knownHosts: sandbox.state.knownHosts,
  hostKeyPolicy: 'strict' as const,
  sudo: false,
  connectTimeoutMs: 20_000,
});

describe(`a sandbox of ${N} hosts`, () => {
  it('gives every host a port of its own, all held by one forwarder process', () => {
    const ports = sandbox.state.hosts.map((h) => h.port);
    expect(new Set(ports).size).toBe(N);
    expect(sandbox.state.processes.filter((p) => p.what === 'forwarder')).toHaveLength(1);
    expect(sandbox.state.processes.filter((p) => p.what.endsWith(' forwarder'))).toEqual([]);
    const known = readFileSync(sandbox.state.knownHosts, 'utf8');
    for (const p of ports) expect(known).toContain(`[127.0.0.1]:${p} ssh-ed25519 `);
  });

  it('every host answers SSH on its port, as itself, all at once', async () => {
    const names = await Promise.all(
      sandbox.state.hosts.map(async (_, i) => {
        const c = await connect(target(i));
        try {
          return (await c.exec('hostname')).stdout.trim();
        } finally {
          c.close();
        }
      }),
    );
    expect(names).toEqual(sandbox.state.hosts.map((h) => h.fqdn));
  });

  it('a dry run over every host at once plans the relay on each, and fails none', async () => {
    // 48 handshakes at once on 2 cores: each gets the time target() gives it above, not the 5 s of
    // one host (under load 8 of 48 took longer), so that what is tested is the plan, not the clock
    const inv = sandboxInventory(sandbox.state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state)) }], {}, undefined, {
      connectTimeoutMs: 20_000,
    });
    const results = await runHosts(inv.hosts, { dryRun: true, forks: N, emit: () => {} });
    expect(results.filter((r) => r.status === 'failed').map((r) => `${r.host}: ${r.error}`)).toEqual([]);
    expect(results).toHaveLength(N);
    for (const r of results) expect(r.changes.map((c) => c.resourceId)).toContain('packages:sendmail');
  });

  it('down returns only when every recorded process and every descendant has exited, sshd sessions included', async () => {
    const dir = sandbox.state.dir;
    // open sessions: sshd's per-connection children, and a command still running in one
    const sessions = [0, 1, N - 1];
    const open: Connection[] = await Promise.all(sessions.map((i) => connect(target(i))));
    const running = open[0].exec('sleep 3217').catch(() => undefined);
    // the command has started once its process is there (no guess at how long that takes)
    const [sleeper] = await waitFor('the sleep 3217 in relay1', () => under(0, /^sleep 3217$/));
    // each open connection has its sshd child in its host (connect returned: it was forked already);
    // OpenSSH 10 (Debian 13) titles it "sshd-session: root [priv]", OpenSSH 9 (Debian 12) "sshd: root"
    const sshdChildren = sessions.map((i) => under(i, /^sshd(-session)?: root/));
    for (const [k, children] of sshdChildren.entries())
      expect(children, `sshd session of ${sandbox.state.hosts[sessions[k]].name}`).not.toEqual([]);
    const tree = processTree();
    const all: RecordedProcess[] = [...sandbox.state.processes, ...sandbox.state.processes.flatMap((p) => descendants(p.pid, tree))];
    // down has the sessions and the command among what it must see exit, not only the hosts
    const key = (p: RecordedProcess) => `${p.pid}:${p.start}`;
    const keys = new Set(all.map(key));
    for (const p of [sleeper, ...sshdChildren.flat()]) expect(keys.has(key(p)), `${p.pid} ${cmdline(p.pid)}`).toBe(true);
    await sandboxDown({ dir });
    // at once, not eventually: nothing of it runs when down returns
    expect(all.filter((p) => isRunning(p)).map((p) => `${p.pid} ${p.what}`)).toEqual([]);
    expect(pidsNaming(dir)).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(dir);
    for (const c of open) c.close();
    await running;
  });
});

/** A process's command line, its arguments joined by spaces ('' once it has exited). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The processes under host i's recorded process whose command line matches. */
function under(i: number, what: RegExp): RecordedProcess[] {
  const host = sandbox.state.processes.find((p) => p.what === `${sandbox.state.hosts[i].name} host`);
  if (!host) throw new Error(`no recorded process for ${sandbox.state.hosts[i].name}`);
  return descendants(host.pid, processTree()).filter((p) => what.test(cmdline(p.pid)));
}

/** Waits for `find` to find something: the event itself, polled, with a deadline only for a hang. */
async function waitFor<T>(what: string, find: () => T[]): Promise<T[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = find();
    if (found.length) return found;
    if (Date.now() > deadline) throw new Error(`${what}: never appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
