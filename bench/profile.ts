// Reading what a mailprov run spent its time on: a CPU profile (`node --cpu-prof`) summed into a
// few buckets per thread, and the per-host phase timeline of a real CLI run.
// spawn for traceCli() only: it stamps each output line as it arrives and ends the wall time at the
// process's exit; zx buffers the output and settles when the pipes close, which can be later.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './lib.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ThreadSummary {
  thread: string;
  file: string;
  spanMs: number;
  /** Milliseconds per bucket, largest first. */
  buckets: [string, number][];
  /** Largest self times by function, for the curious. */
  topFunctions: [string, number][];
  /** First and last sample inside these functions (ms since profiling began, which is after Node's own start). */
  spans: { fn: string; fromMs: number; toMs: number }[];
}

/** Functions whose first-to-last-sample span tells a phase of the run. */
const SPAN_FUNCTIONS = ['main', 'loadInventory', 'runHosts'];

/**
 * The bucket of one sample: the first frame from the leaf up that says what the work is for.
 * Leaf first, so zod called from mailprov code counts as zod, and module-loader internals called
 * while evaluating an import count as module loading.
 */
function bucketOf(stack: ProfileNode[]): string {
  const leaf = stack[0].callFrame.functionName;
  if (leaf === '(idle)') return 'idle (waiting: network, hosts, timers)';
  if (leaf === '(garbage collector)') return 'garbage collection';
  if (leaf === '(program)') return 'V8/native (program)';
  for (const n of stack) {
    const url = n.callFrame.url;
    if (/node_modules\/(ssh2|node-ssh|cpu-features|asn1|bcrypt-pbkdf)\//.test(url)) return 'SSH protocol and crypto (ssh2)';
    if (url.includes('node_modules/esbuild/')) return 'esbuild JS side (inventory bundling; its Go service is another process)';
    if (/node_modules\/(tsx|get-tsconfig|resolve-pkg-maps)\//.test(url) || url.includes('/bin/resolve-self.mjs'))
      return 'module loading (tsx, hooks)';
    if (/^node:internal\/(modules|deps\/cjs-module-lexer|vm|source_map)/.test(url)) return 'module loading (node)';
    if (url.includes('node_modules/zod/')) return 'zod (schemas)';
    if (url.includes('node_modules/commander/')) return 'commander';
    // our sources, the bundle in dist/ (zod bundled in it), an installed copy's, and an inventory bundled into a temp file
    if (/\/(src|playbooks|inventories|bin|dist)\//.test(url) && !url.includes('node_modules/')) return 'mailprov code';
    if (/node_modules\/mailprov\/(src|playbooks|inventories|bin|dist)\//.test(url)) return 'mailprov code';
    if (/\/mailprov-inventory-[^/]*\.mjs$/.test(url) || /\/mailprov\/inventories\/[0-9a-f]+\.mjs/.test(url)) return 'mailprov code';
    if (url.includes('node_modules/')) return `other packages (${url.split('node_modules/').pop()!.split('/')[0]})`;
  }
  return 'node internals (streams, fs, timers, ...)';
}

export function summarizeProfile(file: string): ThreadSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (const [i, id] of p.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  const buckets = new Map<string, number>();
  const fns = new Map<string, number>();
  let loaderThread = false;
  // sample times, and which span functions each node's stack holds
  const spanOf = new Map<string, [number, number]>();
  const inStack = (id: number): string[] => {
    const names: string[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const cf = byId.get(x)!.callFrame;
      if (SPAN_FUNCTIONS.includes(cf.functionName) && !cf.url.includes('node_modules/') && !cf.url.startsWith('node:'))
        names.push(cf.functionName);
    }
    return names;
  };
  const namesCache = new Map<number, string[]>();
  let t = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (!namesCache.has(id)) namesCache.set(id, inStack(id));
    for (const fn of namesCache.get(id)!) {
      const span = spanOf.get(fn);
      spanOf.set(fn, span ? [span[0], t] : [t, t]);
    }
  });
  for (const [id, us] of selfUs) {
    const stack: ProfileNode[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) stack.push(byId.get(x)!);
    if (stack.some((n) => n.callFrame.url.startsWith('node:internal/modules/esm/worker'))) loaderThread = true;
    const b = bucketOf(stack);
    buckets.set(b, (buckets.get(b) ?? 0) + us / 1000);
    const cf = stack[0].callFrame;
    const name =
      `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^file:\/\/\/work\/[^/]+\//, '').replace(/.*node_modules\//, '')}`.trim();
    fns.set(name, (fns.get(name) ?? 0) + us / 1000);
  }
  const sorted = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => [k, Math.round(v * 10) / 10] as [string, number]);
  return {
    thread: loaderThread ? 'module-loader thread (ESM hooks)' : 'main thread',
    file,
    spanMs: Math.round((p.endTime - p.startTime) / 100) / 10,
    buckets: sorted(buckets, 20),
    topFunctions: sorted(fns, 12),
    spans: SPAN_FUNCTIONS.filter((fn) => spanOf.has(fn)).map((fn) => ({
      fn,
      fromMs: Math.round(spanOf.get(fn)![0] / 1000),
      toMs: Math.round(spanOf.get(fn)![1] / 1000),
    })),
  };
}

export function summarizeProfiles(dir: string): ThreadSummary[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => summarizeProfile(join(dir, f)));
}

// ---------------------------------------------------------------------------------------------
// The phase breakdown mailprov prints itself with MAILPROV_TRACE=1 (src/trace.ts), on stderr:
//   trace: <phase>   <from>-<to> ms   <total> ms [in <count>]
// from/to in ms since the process started; total: the phase's spans added up (over hosts).

export interface TraceLine {
  phase: string;
  from: number;
  to: number;
  totalMs: number;
  count: number;
}

export function parseTraceLines(stderr: string): TraceLine[] {
  const lines: TraceLine[] = [];
  for (const m of stderr.matchAll(/^trace: (.+?)\s+(\d+)-(\d+) ms\s+(\d+) ms(?: in (\d+))?$/gm))
    lines.push({ phase: m[1].trim(), from: Number(m[2]), to: Number(m[3]), totalMs: Number(m[4]), count: Number(m[5] ?? 1) });
  // the total line has no total of its own: its span is the process's life up to the report
  for (const m of stderr.matchAll(/^trace: total\s+0-(\d+) ms$/gm))
    lines.push({ phase: 'total', from: 0, to: Number(m[1]), totalMs: Number(m[1]), count: 1 });
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The timeline of a real CLI run: without --json and with stdout a pipe, mailprov prints one plain
// line per host event ("relay3: connecting", "relay3: facts", ..., "relay3: unchanged"). Pipe
// writes are synchronous on Linux, so stamping each line as it arrives here times the phases of
// the real process (bundle or tsx, whichever it runs) without touching its code.

const PHASES = ['connecting', 'facts', 'planning', 'applying', 'verifying', 'rolling back'];

export interface TraceSummary {
  /** Process-level marks, ms since spawn. */
  marks: [string, number][];
  /** Per-host phase durations (an apply's steps each apart), median and max over the hosts, in ms. */
  phases: { phase: string; medianMs: number; maxMs: number }[];
}

export interface TracedRun {
  code: number | null;
  seconds: number;
  maxRssKb?: number;
  trace: TraceSummary;
  /** Each host's final status word (unchanged, changed, changes pending, failed, ...). */
  statuses: Map<string, string>;
  output: string;
}

/** Runs `cmd args` (mailprov: npx or node and the bin) and reads its plain output lines as they arrive. */
export async function traceCli(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, rssFile?: string): Promise<TracedRun> {
  const [file, argv] = rssFile ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const child = spawn(file, argv, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: { t: number; text: string }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const t = performance.now() - t0;
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ t, text });
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const exitMs = performance.now() - t0;
  await new Promise((resolve) => (child.stdout.readableEnded ? resolve(null) : child.stdout.once('end', resolve)));
  let maxRssKb: number | undefined;
  if (rssFile && existsSync(rssFile)) maxRssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) || undefined;

  // per host: its phase lines ("applying 3/9: create /etc/mail/authinfo" counts as its own phase),
  // then its status line
  const perHost = new Map<string, { phase: string; t: number }[]>();
  const statuses = new Map<string, string>();
  const order: string[] = [];
  let firstHostLine: number | undefined;
  let lastDone = 0;
  let lastVerifying = 0;
  for (const { t, text } of lines) {
    const m = /^(relay\d+): (.*)$/.exec(text);
    if (!m) continue;
    const [, host, rest] = m;
    const list = perHost.get(host) ?? [];
    perHost.set(host, list);
    const word = rest.split(/[ :]/)[0];
    if (PHASES.includes(word) || rest.startsWith('rolling back')) {
      firstHostLine ??= t;
      const phase = rest.replace(/^(\S+) \d+\/\d+: /, '$1: ');
      if (!order.includes(phase)) order.push(phase);
      if (list.at(-1)?.phase !== phase) list.push({ phase, t });
      if (word === 'verifying' && !list.slice(0, -1).some((x) => x.phase.startsWith('verifying')))
        lastVerifying = Math.max(lastVerifying, t);
    } else if (!/^(error|warning|info) \[/.test(rest) && !statuses.has(host)) {
      statuses.set(host, rest.split(':')[0]);
      list.push({ phase: 'done', t });
      lastDone = Math.max(lastDone, t);
    }
  }
  const durations = new Map<string, number[]>();
  for (const list of perHost.values()) {
    for (let i = 0; i < list.length - 1; i++)
      durations.set(list[i].phase, [...(durations.get(list[i].phase) ?? []), list[i + 1].t - list[i].t]);
  }
  const label = (p: string) =>
    p === 'connecting'
      ? 'connecting (TCP, SSH handshake, auth; host lock for an apply)'
      : p === 'planning'
        ? 'planning (then closing, or recording the generation)'
        : p;
  const round = (x: number | undefined) => Math.round(x ?? Number.NaN);
  return {
    code,
    seconds: exitMs / 1000,
    maxRssKb,
    statuses,
    output: lines.map((l) => l.text).join('\n') + '\n' + stderr,
    trace: {
      marks: [
        ['first host starts connecting (Node start, module loading, inventory loaded)', round(firstHostLine)],
        ...(lastVerifying ? [['last host starts verifying (every change applied)', round(lastVerifying)] as [string, number]] : []),
        ['last host done', round(lastDone)],
        ['process exited', round(exitMs)],
      ],
      phases: order
        .filter((p) => durations.has(p))
        .map((p) => ({ phase: label(p), medianMs: round(median(durations.get(p)!)), maxMs: round(Math.max(...durations.get(p)!)) })),
    },
  };
}
