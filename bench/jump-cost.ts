// `node --import tsx bench/jump-cost.ts [--hosts 10] [--reps 5]`: what a bastion costs a dry run.
// N private sandbox hosts behind relay1 (the bastion) are planned through it, and the same N hosts
// directly: for that, this script gives each a forwarder on 127.0.0.1 of its own (what every public
// sandbox host has), stopped at the end. Turns alternate; the figure is the ratio of the medians of
// the engine run's wall time, measured in the same run (the machine is shared and noisy). The result
// replaces the section between the markers in bench/latest.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendmailSmartHost } from '../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../src/engine/index.ts';
import { resolveInventory } from '../src/inventory/load.ts';
import { relaySettings, sandboxAddress, sandboxDown, sandboxUp, type SandboxHost, type SandboxState } from '../src/sandbox/index.ts';
import { jumpConnections } from '../src/transport/jump.ts';
import { median } from './lib.ts';
import { ROOT } from './tools.ts';
import { freePort } from '../src/sandbox/ports.ts';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
const N = option('--hosts', 10);
const REPS = option('--reps', 5);
const log = (l: string) => process.stderr.write(`[jump-cost] ${l}\n`);

/** Resolves once 127.0.0.1:port answers with an SSH banner. */
async function waitForSsh(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.once('data', (d) => done(d.toString().startsWith('SSH-')));
      s.once('error', () => done(false));
      s.once('close', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers SSH on 127.0.0.1:${port}`);
}

/**
 * A forwarder of our own to a private host's sshd, as the sandbox gives its public hosts. A
 * long-lived child killed when the timing is done: zx's `$` waits for its command, so spawn it is.
 */
async function directPath(host: SandboxHost): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,nodelay`, `UNIX-CONNECT:${join(host.dir, 'ssh.sock')}`], {
    stdio: 'ignore',
  });
  await waitForSsh(port);
  return { port, child };
}

function inventory(state: SandboxState, knownHosts: string, hosts: Record<string, { address: string; port: number; jump?: string }>) {
  return resolveInventory(
    {
      defaults: { user: 'root', privateKey: state.privateKey, knownHosts, hostKeyPolicy: 'strict' },
      hosts,
      playbooks: [{ use: sendmailSmartHost(relaySettings(state)) }],
    },
    join(state.dir, 'bench-inventory.ts'),
  );
}

async function planSeconds(inv: ReturnType<typeof inventory>): Promise<number> {
  const t0 = performance.now();
  const results = await runHosts(inv.hosts, { dryRun: true, forks: N, emit: () => {} });
  const seconds = (performance.now() - t0) / 1000;
  const bad = results.filter((r) => r.status !== 'pending');
  if (bad.length) throw new Error(`plan did not reach every host: ${bad.map((r) => `${r.host} ${r.status} ${r.error ?? ''}`).join('; ')}`);
  return seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-jump-cost-'));
  const loadBefore = loadavg()[0];
  const names = Array.from({ length: N }, (_, i) => `relay${i + 2}`);
  const state = await sandboxUp({ dir, count: N + 1, private: Object.fromEntries(names.map((n) => [n, ['relay1']])) });
  const forwarders: ChildProcess[] = [];
  try {
    const hosts = state.hosts.filter((h) => h.reachableFrom);
    const direct: Record<string, { address: string; port: number }> = {};
    const known = [readFileSync(state.knownHosts, 'utf8').trimEnd()];
    for (const h of hosts) {
      const { port, child } = await directPath(h);
      forwarders.push(child);
      direct[h.name] = { address: '127.0.0.1', port };
      const pub = readFileSync(join(h.dir, 'upper/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ');
      known.push(`[127.0.0.1]:${port} ${pub[0]} ${pub[1]}`);
    }
    const knownHosts = join(dir, 'bench_known_hosts');
    writeFileSync(knownHosts, `${known.join('\n')}\n`, { mode: 0o600 });
    const viaJump = inventory(state, knownHosts, Object.fromEntries(hosts.map((h) => [h.name, sandboxAddress(state, h)])));
    const viaDirect = inventory(state, knownHosts, direct);
    log(`${N} hosts behind relay1; warming up`);
    await planSeconds(viaDirect);
    await planSeconds(viaJump);
    const opened = () => [...jumpConnections().opened.values()].reduce((a, b) => a + b, 0);
    const jumpTimes: number[] = [];
    const directTimes: number[] = [];
    const opensBefore = opened();
    for (let rep = 1; rep <= REPS; rep++) {
      // turns alternate, and which goes first alternates too
      const order = rep % 2 ? ['jump', 'direct'] : ['direct', 'jump'];
      for (const way of order) (way === 'jump' ? jumpTimes : directTimes).push(await planSeconds(way === 'jump' ? viaJump : viaDirect));
      log(`rep ${rep}: through the bastion ${jumpTimes.at(-1)!.toFixed(2)} s, direct ${directTimes.at(-1)!.toFixed(2)} s`);
    }
    const bastionConnections = (opened() - opensBefore) / REPS;
    const mJump = median(jumpTimes);
    const mDirect = median(directTimes);
    const section = [
      '<!-- jump-cost:start -->',
      `## Hosts behind a bastion, dry run (N=${N})`,
      '',
      `Written by \`node --import tsx bench/jump-cost.ts --hosts ${N} --reps ${REPS}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `(${cpus().length} cores, load average ${loadBefore.toFixed(1)} before). \`plan\` of the sendmail playbook on ${N} fresh`,
      'private sandbox hosts, through relay1 (`jump`) and directly (a forwarder on 127.0.0.1 per host, as public sandbox',
      'hosts have), in alternating turns; medians of the wall time of the engine run (no CLI start).',
      '',
      '| way | median s | per host, extra ms | bastion/direct | connections to the bastion per run |',
      '| :-- | -------: | -----------------: | -------------: | ---------------------------------: |',
      `| direct | ${mDirect.toFixed(2)} | | | |`,
      `| through the bastion | ${mJump.toFixed(2)} | ${(((mJump - mDirect) * 1000) / N).toFixed(0)} | ${(mJump / mDirect).toFixed(2)}x | ${bastionConnections} |`,
      '',
      'Through the bastion, each host is one direct-tcpip channel of the one shared connection to relay1 (its',
      "handshake, authentication and every command's channel travel inside it); the extra cost is that connection",
      "once, and one more relay (the bastion's sshd) on every round trip.",
      '<!-- jump-cost:end -->',
    ].join('\n');
    const file = join(ROOT, 'bench/latest.md');
    const text = readFileSync(file, 'utf8');
    const re = /<!-- jump-cost:start -->[\s\S]*<!-- jump-cost:end -->/;
    writeFileSync(file, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
    process.stdout.write(`${section}\n`);
  } finally {
    for (const f of forwarders) f.kill('SIGKILL');
    await sandboxDown({ dir });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
