// `mailprov report merge`: the --json results of the shards of one plan or apply, checked to fit
// together (one command, each shard once, no host twice, every selected host there) and merged
// into one document of the same shape, with the exit code one run over all those hosts would have had.
import { z } from 'zod';
import type { HostResult } from '../engine/events.ts';
import { MergeError } from '../errors.ts';
import { runExitCode, summarize } from './json.ts';

const finding = z.looseObject({ level: z.enum(['error', 'warning', 'info']), code: z.string(), message: z.string() });

const change = z.looseObject({
  resource: z.string(),
  action: z.string(),
  summary: z.string(),
  reason: z.string(),
  commands: z.array(z.looseObject({ label: z.string(), command: z.string() })),
  diff: z
    .looseObject({
      path: z.string(),
      before: z.string().nullable(),
      after: z.string().nullable(),
      masked: z.boolean(),
      secretChanged: z.boolean(),
      meta: z.array(z.string()),
    })
    .nullable(),
});

const hostEntry = z.looseObject({
  host: z.string().min(1),
  address: z.string(),
  os: z.string().nullable(),
  status: z.enum(['unchanged', 'changed', 'failed', 'rolled-back', 'pending', 'skipped']),
  durationMs: z.number(),
  error: z.string().nullable(),
  rolledBack: z.looseObject({ generation: z.number(), restored: z.array(z.string()) }).nullable(),
  pruned: z.array(z.number()),
  findings: z.array(finding),
  log: z.string().nullable(),
  changes: z.array(change),
});

const runDoc = z.looseObject({
  command: z.enum(['plan', 'apply']),
  inventory: z.string().nullable().optional(),
  logs: z.string().nullable().optional(),
  shard: z.object({ index: z.number().int().min(1), count: z.number().int().min(1), selected: z.number().int().min(0) }).optional(),
  hosts: z.array(hostEntry),
});

export type HostEntry = z.infer<typeof hostEntry>;
export type RunDoc = z.infer<typeof runDoc> & { file: string };

export interface MergedRun {
  command: 'plan' | 'apply';
  /** The merged document, the shape `--json` gives for one run, plus `merged` (the inputs). */
  doc: Record<string, unknown>;
  hosts: HostEntry[];
  exitCode: 0 | 1 | 2;
}

/** One input file's text, checked to be what `plan --json` or `apply --json` prints. */
export function parseRunDoc(file: string, text: string): RunDoc {
  if (!text.trim())
    throw new MergeError([file], `${file}: empty: the run that wrote it printed no JSON (it failed before it began? its stderr says why)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MergeError([file], `${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = runDoc.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new MergeError([file], `${file}: not the --json result of mailprov plan or apply (${where}${issue.message})`);
  }
  return { ...parsed.data, file };
}

export function mergeRunDocs(docs: RunDoc[]): MergedRun {
  if (!docs.length) throw new MergeError([], 'nothing to merge: give the JSON file of each shard');
  const files = docs.map((d) => d.file);
  const twice = files.find((f, i) => files.indexOf(f) !== i);
  if (twice !== undefined) throw new MergeError([twice], `${twice} is given twice`);
  const command = oneCommand(docs);
  checkShards(docs);
  const hosts = disjointHosts(docs);
  const selected = docs[0].shard?.selected;
  if (selected !== undefined && hosts.length !== selected)
    throw new MergeError(files, `the shards hold ${hosts.length} hosts, but each run selected ${selected}: ${describeInputs(docs)}`);
  hosts.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
  const doc = {
    command,
    ok: runExitCode(command, hosts) !== 1,
    summary: summarize(hosts),
    inventory: common(docs.map((d) => d.inventory ?? null)),
    logs: common(docs.map((d) => d.logs ?? null)),
    merged: docs.map((d) => ({ file: d.file, shard: d.shard ? `${d.shard.index}/${d.shard.count}` : null, hosts: d.hosts.length })),
    hosts,
  };
  return { command, doc, hosts, exitCode: runExitCode(command, hosts) };
}

function oneCommand(docs: RunDoc[]): 'plan' | 'apply' {
  const plans = docs.filter((d) => d.command === 'plan').map((d) => d.file);
  const applies = docs.filter((d) => d.command === 'apply').map((d) => d.file);
  if (plans.length && applies.length)
    throw new MergeError(
      [...plans, ...applies],
      `the results are of different commands: plan in ${plans.join(', ')}; apply in ${applies.join(', ')}: merge the shards of one command`,
    );
  return docs[0].command;
}

/** Sharded inputs: one n, each shard once, none missing (a missing shard would hide its failures). */
function checkShards(docs: RunDoc[]): void {
  const sharded = docs.filter((d) => d.shard);
  if (!sharded.length) return; // runs of their own (say, one --limit each): only hosts must not overlap
  const plain = docs.filter((d) => !d.shard);
  if (plain.length)
    throw new MergeError(
      docs.map((d) => d.file),
      `${plain.map((d) => d.file).join(', ')} ${plain.length === 1 ? 'is' : 'are'} not the result of a --shard run, ` +
        `but ${sharded[0].file} is (shard ${sharded[0].shard!.index}/${sharded[0].shard!.count}): merge the shards of one run`,
    );
  const counts = new Set(sharded.map((d) => d.shard!.count));
  if (counts.size > 1)
    throw new MergeError(
      docs.map((d) => d.file),
      `the shards are of different counts (${describeInputs(docs)}): every shard of one run has the same n`,
    );
  const selected = new Set(sharded.map((d) => d.shard!.selected));
  if (selected.size > 1)
    throw new MergeError(
      docs.map((d) => d.file),
      `the shards selected different numbers of hosts before sharding (${docs.map((d) => `${d.file}: ${d.shard!.selected}`).join(', ')}): ` +
        'were they run with different inventories or --limit?',
    );
  const byIndex = new Map<number, string>();
  for (const d of docs) {
    const other = byIndex.get(d.shard!.index);
    if (other !== undefined)
      throw new MergeError([other, d.file], `${other} and ${d.file} are both shard ${d.shard!.index}/${d.shard!.count}`);
    byIndex.set(d.shard!.index, d.file);
  }
  const count = [...counts][0];
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length)
    throw new MergeError(
      docs.map((d) => d.file),
      `shard ${missing.map((i) => `${i}/${count}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (given: ${describeInputs(docs)}): ` +
        'without every shard the result would not say whether all hosts succeeded',
    );
}

/** Every host once: a host in two inputs means the shards did not come from one inventory and n. */
function disjointHosts(docs: RunDoc[]): HostEntry[] {
  const fileOf = new Map<string, string>();
  const clashes: string[] = [];
  const clashFiles = new Set<string>();
  const hosts: HostEntry[] = [];
  for (const d of docs) {
    for (const h of d.hosts) {
      const first = fileOf.get(h.host);
      if (first !== undefined) {
        clashes.push(`${h.host} (${first === d.file ? `twice in ${d.file}` : `${first} and ${d.file}`})`);
        clashFiles.add(first).add(d.file);
        continue;
      }
      fileOf.set(h.host, d.file);
      hosts.push(h);
    }
  }
  if (clashes.length) {
    const shown = clashes.slice(0, 5).join(', ') + (clashes.length > 5 ? `, and ${clashes.length - 5} more` : '');
    throw new MergeError(
      [...clashFiles],
      `${clashes.length === 1 ? 'a host is' : `${clashes.length} hosts are`} in more than one result: ${shown}; ` +
        'each host must be in exactly one shard (the same inventory and n for every shard)',
    );
  }
  return hosts;
}

const describeInputs = (docs: RunDoc[]) =>
  docs.map((d) => `${d.file}${d.shard ? ` ${d.shard.index}/${d.shard.count}` : ''} with ${d.hosts.length} hosts`).join(', ');

const common = (values: (string | null)[]) => (values.every((v) => v === values[0]) ? values[0] : null);

/** A host's JSON entry as the console reporter's input (for the text summary; `applied` is not in the JSON). */
export function entryToResult(h: HostEntry): HostResult {
  return {
    host: h.host,
    address: h.address,
    os: h.os ?? undefined,
    status: h.status,
    changes: h.changes.map((c) => ({
      resourceId: c.resource,
      action: c.action,
      summary: c.summary,
      reason: c.reason,
      diff: c.diff
        ? {
            path: c.diff.path,
            before: c.diff.before,
            after: c.diff.after,
            masked: c.diff.masked,
            secretChanged: c.diff.secretChanged,
            meta: c.diff.meta,
          }
        : undefined,
      steps: c.commands.map((k) => ({ label: k.label, command: k.command })),
      undo: [],
    })),
    applied: 0,
    error: h.error ?? undefined,
    rolledBack: h.rolledBack ?? undefined,
    pruned: h.pruned,
    findings: h.findings,
    durationMs: h.durationMs,
    logFile: h.log ?? undefined,
  };
}
