// `npm run bench -- --scale 100,400,1000`: mailprov over many sandbox hosts at once, against the
// floor (N parallel `ssh host true`). For each N: a sandbox of N hosts (its `up` time and memory per
// host), a dry run on the fresh hosts, the floor, a dry run split over 2 shards (two processes at
// once) compared with the one run host by host; and where asked (--converge-at, default 100), a first
// apply that converges the hosts, then a no-op apply and a dry run on converged hosts, and (at
// --ansible-at, default 100) Ansible's dry run and no-op apply on those converged hosts (after an
// untimed apply of its own, which adds its form of the SMTP rule).
// Controller CPU (user + system) and peak RSS come from GNU time around the controller's process.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { SandboxState } from '../src/sandbox/index.ts';
import { descendants, processTree } from '../src/sandbox/processes.ts';
import { sshRunAll } from './lib.ts';
import type { ScaleN, ScaleRun, ScaleSandbox } from './results.ts';
import { ansible, ansibleSetup, floor, mailprov, type MailprovJson, type Outcome, python3AptCommand } from './tools.ts';

export interface ScaleOptions {
  ns: number[];
  /** mailprov's --forks: at most this many hosts at once (default: N) */
  forksCap: number;
  convergeAt: number[];
  ansibleAt: number[];
}

export interface ScaleContext {
  work: string;
  log: (line: string) => void;
  up: (label: string, n: number) => Promise<SandboxState>;
  down: (state: SandboxState) => Promise<void>;
  failures: string[];
}

const load1 = () => Math.round(loadavg()[0] * 100) / 100;

/** Every process of the sandbox (recorded ones and their descendants): PSS and RSS from smaps_rollup. */
export function sandboxMemory(state: SandboxState): Omit<ScaleSandbox, 'upSeconds' | 'downSeconds'> {
  const tree = processTree();
  const kb = (pid: number) => {
    try {
      const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const field = (k: string) => Number(t.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
      return { pss: field('Pss'), rss: field('Rss') };
    } catch {
      return { pss: 0, rss: 0 };
    }
  };
  let pss = 0;
  let rss = 0;
  let forwarder = 0;
  let processes = 0;
  for (const p of state.processes) {
    for (const pid of [p.pid, ...descendants(p.pid, tree).map((d) => d.pid)]) {
      const m = kb(pid);
      pss += m.pss;
      rss += m.rss;
      processes++;
      if (p.what === 'forwarder') forwarder += m.pss;
    }
  }
  const n = state.hosts.length;
  const mb = (k: number, digits = 2) => Math.round((k / 1024) * 10 ** digits) / 10 ** digits;
  return { processes, pssMbPerHost: mb(pss / n), rssMbPerHost: mb(rss / n), forwarderPssMb: mb(forwarder, 1) };
}

async function timedRun(scenario: ScaleRun['scenario'], tool: ScaleRun['tool'], run: () => Promise<Outcome>, ctx: ScaleContext, n: number) {
  const before = load1();
  const o = await run();
  const r: ScaleRun = { scenario, tool, seconds: Math.round(o.seconds * 1000) / 1000, ok: o.ok, detail: o.detail, load: [before, load1()] };
  if (o.cpuSeconds !== undefined) r.cpuSeconds = o.cpuSeconds;
  if (o.maxRssKb !== undefined) r.maxRssKb = o.maxRssKb;
  const usage = r.cpuSeconds !== undefined ? `, CPU ${r.cpuSeconds} s, max RSS ${Math.round((r.maxRssKb ?? 0) / 1024)} MB` : '';
  ctx.log(`N=${n} ${scenario}, ${tool}: ${o.seconds.toFixed(2)} s${usage}${o.ok ? '' : `  FAILED: ${o.detail}`}`);
  if (!o.ok) ctx.failures.push(`N=${n} ${scenario}, ${tool}: ${o.detail}`);
  return { run: r, outcome: o };
}

/** Each host's planned changes (resource and summary), for comparing runs; a failed host as its failure. */
const plannedByHost = (j: MailprovJson | undefined) =>
  new Map(
    (j?.hosts ?? []).map((h) => [
      h.host,
      h.error
        ? { failed: true, planned: '' }
        : { failed: false, planned: JSON.stringify({ status: h.status, changes: h.changes.map((c) => [c.resource, c.summary]) }) },
    ]),
  );

/**
 * Whether two shards together planned what the one run did: every host in exactly one shard, and the
 * same changes for every host that both the one run and its shard reached. A host that failed (a
 * connection timed out) in either is counted apart: it has no plan to compare.
 */
export function compareShards(whole: MailprovJson | undefined, shards: (MailprovJson | undefined)[]): { same: boolean; detail: string } {
  const one = plannedByHost(whole);
  const parts = shards.map(plannedByHost);
  const union = new Map<string, { failed: boolean; planned: string }>();
  let twice = 0;
  for (const part of parts)
    for (const [host, planned] of part) {
      if (union.has(host)) twice++;
      union.set(host, planned);
    }
  const missing = [...one.keys()].filter((h) => !union.has(h));
  const extra = [...union.keys()].filter((h) => !one.has(h));
  const failed = [...one].filter(([h, p]) => p.failed || union.get(h)?.failed).map(([h]) => h);
  const differ = [...one]
    .filter(([h, p]) => !p.failed && union.get(h) && !union.get(h)!.failed && union.get(h)!.planned !== p.planned)
    .map(([h]) => h);
  const compared = one.size - missing.length - failed.length;
  const same = one.size > 0 && compared > 0 && !twice && !missing.length && !extra.length && !differ.length;
  const sizes = parts.map((p) => p.size).join(' + ');
  const changes = (js: (MailprovJson | undefined)[]) => js.reduce((sum, j) => sum + (j?.summary.changes ?? 0), 0);
  const failures = failed.length
    ? `; ${failed.length} host(s) failed in one run or the other (not compared: ${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ', ...' : ''})`
    : '';
  return {
    same,
    detail: same
      ? `${sizes} hosts, each in one shard; the ${compared} hosts both reached planned the same changes (${changes(shards)} in the shards, ${changes([whole])} in the one run)${failures}`
      : `shards of ${sizes} hosts: ${twice} host(s) in both shards, ${missing.length} missing, ${extra.length} not in the one run, ${differ.length} planned differently (${differ.slice(0, 5).join(', ')})${failures}`,
  };
}

export async function benchScale(opts: ScaleOptions, ctx: ScaleContext): Promise<ScaleN[]> {
  const out: ScaleN[] = [];
  for (const n of opts.ns) {
    ctx.log(`=== scale: ${n} host(s)`);
    const t0 = performance.now();
    const state = await ctx.up(`scale-${n}`, n);
    const upSeconds = Math.round((performance.now() - t0) / 10) / 100;
    const forks = Math.min(n, opts.forksCap);
    const entry: ScaleN = { hosts: n, forks, sandbox: { upSeconds, ...sandboxMemory(state) }, runs: [] };
    out.push(entry);
    ctx.log(
      `N=${n} sandbox: up in ${upSeconds} s, ${entry.sandbox.processes} processes, PSS ${entry.sandbox.pssMbPerHost} MB per host (forwarder ${entry.sandbox.forwarderPssMb} MB in all)`,
    );
    const add = async (scenario: ScaleRun['scenario'], tool: ScaleRun['tool'], run: () => Promise<Outcome>) => {
      const r = await timedRun(scenario, tool, run, ctx, n);
      entry.runs.push(r.run);
      return r.outcome;
    };
    const floorRun = () => add('dry run, fresh hosts', 'floor', () => floor(ctx.work, state));

    const dry = (await add('dry run, fresh hosts', 'mailprov', () => mailprov(ctx.work, state, 'plan', 'changes', { forks }))) as Awaited<
      ReturnType<typeof mailprov>
    >;
    await floorRun();
    // two shards, two processes at once, each with half the forks
    const before = load1();
    const t1 = performance.now();
    const half = Math.max(1, Math.ceil(forks / 2));
    const shards = await Promise.all(
      ['1/2', '2/2'].map((s) => mailprov(ctx.work, state, 'plan', 'changes', { forks: half, args: ['--shard', s] })),
    );
    const shardRun: ScaleRun = {
      scenario: 'dry run, fresh hosts, 2 shards',
      tool: 'mailprov',
      seconds: Math.round(performance.now() - t1) / 1000,
      cpuSeconds: Math.round(shards.reduce((s, r) => s + (r.cpuSeconds ?? 0), 0) * 100) / 100,
      maxRssKb: Math.max(...shards.map((r) => r.maxRssKb ?? 0)),
      ok: shards.every((r) => r.ok),
      detail: shards.map((r) => r.detail).join('; '),
      load: [before, load1()],
    };
    entry.runs.push(shardRun);
    entry.shards = compareShards(
      dry.json,
      shards.map((r) => r.json),
    );
    ctx.log(`N=${n} 2 shards: ${shardRun.seconds} s; ${entry.shards.detail}`);
    if (!entry.shards.same) ctx.failures.push(`N=${n} 2 shards: ${entry.shards.detail}`);

    if (opts.convergeAt.includes(n)) {
      const first = await add('first apply', 'mailprov', () => mailprov(ctx.work, state, 'apply', 'changes', { forks }));
      if (!first.ok) {
        ctx.log(`N=${n}: converging again (untimed)`);
        await mailprov(ctx.work, state, 'apply', 'changes', { forks });
      }
      await add('no-op re-apply', 'mailprov', () => mailprov(ctx.work, state, 'apply', 'none', { forks }));
      await add('dry run, converged hosts', 'mailprov', () => mailprov(ctx.work, state, 'plan', 'none', { forks }));
      await add('dry run, converged hosts', 'floor', () => floor(ctx.work, state));
      if (opts.ansibleAt.includes(n)) {
        // on the hosts mailprov converged (Ansible's playbook writes the same files): python3-apt
        // first, untimed, as in the main benchmark
        const setup = ansibleSetup(ctx.work, state, `scale-${n}`);
        await sshRunAll(state, python3AptCommand(), join(ctx.work, 'out', `python3-apt-scale-${n}`));
        // and one apply, untimed: its iptables module writes the SMTP rule in a form of its own, which
        // it would otherwise add (and save) on the first run
        const settled = await ansible(ctx.work, setup, state, 'apply', 'changes');
        ctx.log(`N=${n} ansible's own apply on the converged hosts (untimed): ${settled.detail}`);
        await add('dry run, converged hosts', 'ansible', () => ansible(ctx.work, setup, state, 'check', 'none'));
        await add('no-op re-apply', 'ansible', () => ansible(ctx.work, setup, state, 'apply', 'none'));
      }
    }
    const t2 = performance.now();
    await ctx.down(state);
    entry.sandbox.downSeconds = Math.round((performance.now() - t2) / 10) / 100;
    ctx.log(`N=${n} sandbox down in ${entry.sandbox.downSeconds} s`);
  }
  return out;
}
