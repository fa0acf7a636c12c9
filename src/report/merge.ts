// `mailprov report merge`: the --json results of the shards of one plan or apply, checked to be the
// shards of one selection (one command, one inventory, one --limit, one n, each shard once, each host
// in the shard its hash gives, every selected host there) and merged into one document of the same
// shape, with the exit code one run over all those hosts would have had.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { HostResult } from '../engine/events.ts';
import { MergeError } from '../errors.ts';
import { shardOf } from '../inventory/shard.ts';
import { DIFF_FIELDS } from './diff-schema.ts';
import { runExitCode, summarize } from './json.ts';
import { CHANGE_ACTIONS } from '../resources/types.ts';

const finding = z.looseObject({ level: z.enum(['error', 'warning', 'info']), code: z.string(), message: z.string() });

const change = z.looseObject({
  resource: z.string(),
  // every verb a report of mailprov's can hold
  action: z.enum(CHANGE_ACTIONS),
  summary: z.string(),
  reason: z.string(),
  commands: z.array(z.looseObject({ label: z.string(), command: z.string() })),
  diff: z.looseObject(DIFF_FIELDS).nullable(),
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
  shard: z
    .looseObject({
      index: z.number().int().min(1),
      count: z.number().int().min(1),
      selected: z.number().int().min(0),
      // what the selection was: written by every sharded run since issue 24; absent from older results
      inventory: z.string().optional(),
      limit: z.string().nullable().optional(),
      selection: z.array(z.string()).optional(),
    })
    .optional(),
  hosts: z.array(hostEntry),
});

// `mailprov status --json --shard i/n`: the same shard record, hosts with their state
const statusDoc = z.looseObject({
  command: z.literal('status'),
  inventory: z.string().nullable().optional(),
  shard: runDoc.shape.shard,
  hosts: z.array(z.looseObject({ host: z.string().min(1), state: z.enum(['ok', 'attention', 'unreachable', 'failed']) })),
});

export type StatusDoc = z.infer<typeof statusDoc> & { file: string };

/** Whether a file's text is `status --json` (merged by mergeStatusDocs) rather than a plan or apply. */
export function isStatusText(text: string): boolean {
  try {
    return (JSON.parse(text) as { command?: unknown })?.command === 'status';
  } catch {
    return false;
  }
}

export function parseStatusDoc(file: string, text: string): StatusDoc {
  const parsed = statusDoc.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MergeError([file], `${file}: not the --json result of mailprov status (${issue.path.join('.')}: ${issue.message})`);
  }
  return { ...parsed.data, file };
}

/** The shards of one `status --json --shard` run, checked as a plan's or apply's are, as one document. */
export function mergeStatusDocs(docs: StatusDoc[]): { doc: Record<string, unknown>; hosts: StatusDoc['hosts'] } {
  if (!docs.length) throw new MergeError([], 'nothing to merge: give the JSON file of each shard');
  checkShards(docs);
  const hosts = disjointHosts(docs);
  checkHosts(docs);
  hosts.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
  const doc = {
    command: 'status',
    inventory: common(docs.map((d) => d.inventory ?? null)),
    merged: docs.map((d) => ({ file: d.file, shard: d.shard ? `${d.shard.index}/${d.shard.count}` : null, hosts: d.hosts.length })),
    hosts,
  };
  return { doc, hosts };
}

export type HostEntry = z.infer<typeof hostEntry>;
export type RunDoc = z.infer<typeof runDoc> & { file: string };

export interface MergedRun {
  command: 'plan' | 'apply';
  /** The merged document, the shape `--json` gives for one run, plus `merged` (the inputs). */
  doc: Record<string, unknown>;
  hosts: HostEntry[];
  exitCode: 0 | 1 | 2 | 4;
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

/**
 * What a sharded run writes about the selection it cut its shard from, so that `report merge` can tell
 * the shards of one selection from shards of several: the inventory (a digest of its file and of the
 * hosts it gave), the --limit (normalized: the same names in any order are the same selection) and the
 * selected host names.
 */
export interface SelectionRecord {
  inventory: string;
  limit: string | null;
  selection: string[];
}

export function selectionRecord(
  inventoryText: string | Buffer,
  inventoryHosts: string[],
  limit: string | undefined,
  selected: string[],
): SelectionRecord {
  const digest = createHash('sha256')
    .update(inventoryText)
    .update('\0')
    .update([...inventoryHosts].sort().join('\n'))
    .digest('hex');
  return { inventory: `sha256:${digest}`, limit: normalizeLimit(limit), selection: [...selected] };
}

/** --limit as a selection: its names, trimmed, each once, sorted; null for no --limit. */
export function normalizeLimit(limit: string | undefined): string | null {
  const names = [
    ...new Set(
      (limit ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ].sort();
  return names.length ? names.join(',') : null;
}

export function mergeRunDocs(docs: RunDoc[]): MergedRun {
  if (!docs.length) throw new MergeError([], 'nothing to merge: give the JSON file of each shard');
  const files = docs.map((d) => d.file);
  const twice = files.find((f, i) => files.indexOf(f) !== i);
  if (twice !== undefined) throw new MergeError([twice], `${twice} is given twice`);
  const command = oneCommand(docs);
  checkShards(docs);
  const hosts = disjointHosts(docs);
  checkHosts(docs);
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
  // shards of `apply PLANFILE`: a host refused as stale (and none failed) is exit 4, as in one run
  const code = runExitCode(command, hosts);
  const refused = hosts.some((h) => Array.isArray(h.refused) && h.refused.length > 0);
  return { command, doc, hosts, exitCode: code === 0 && refused ? 4 : code };
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

/** What the checks read of any sharded result (plan, apply or status): its file, its shard, its hosts' names. */
interface ShardedInput {
  file: string;
  shard?: RunDoc['shard'];
  hosts: { host: string }[];
}

type Sharded = ShardedInput & { shard: NonNullable<RunDoc['shard']> & SelectionRecord };

/** The files grouped by a value, for a message: `a.json, c.json: web; b.json: db`. */
function byValue(docs: ShardedInput[], value: (d: ShardedInput) => string): string {
  const groups = new Map<string, string[]>();
  for (const d of docs) groups.set(value(d), [...(groups.get(value(d)) ?? []), d.file]);
  return [...groups].map(([v, fs]) => `${fs.join(', ')}: ${v}`).join('; ');
}

/**
 * The shards of one selection: one inventory, one --limit, one n, the same selected hosts, each shard
 * once, none missing (a missing shard would hide its failures). A run without --shard is a selection
 * of its own: it merges alone, never with another (their hosts could never be shown to cover anything).
 */
function checkShards(docs: ShardedInput[]): void {
  const files = docs.map((d) => d.file);
  const plain = docs.filter((d) => !d.shard);
  if (plain.length && docs.length === 1) return; // one whole run: nothing to fit together
  if (plain.length)
    throw new MergeError(
      files,
      `${plain.map((d) => d.file).join(', ')} ${plain.length === 1 ? 'is' : 'are'} not the result of a --shard run: ` +
        'report merge takes the shards of one selection (plan or apply --shard i/n, the same inventory and --limit, each i once); ' +
        'runs of their own (one --limit each) are different selections, and nothing shows that together they cover a fleet',
    );
  const old = docs.filter((d) => d.shard!.inventory === undefined || d.shard!.limit === undefined || d.shard!.selection === undefined);
  if (old.length)
    throw new MergeError(
      old.map((d) => d.file),
      `${old.map((d) => d.file).join(', ')} ${old.length === 1 ? 'does' : 'do'} not say which selection ${old.length === 1 ? 'its shard was' : 'their shards were'} cut from ` +
        '(written by a mailprov from before report merge checked it): run the shards again',
    );
  const sharded = docs as Sharded[];
  for (const d of sharded) {
    if (d.shard.index > d.shard.count)
      throw new MergeError([d.file], `${d.file} claims shard ${d.shard.index}/${d.shard.count}, which does not exist`);
    if (d.shard.selected !== d.shard.selection.length)
      throw new MergeError(
        [d.file],
        `${d.file} says its run selected ${d.shard.selected} hosts but lists ${d.shard.selection.length}: not what mailprov writes`,
      );
  }
  const inventories = new Set(sharded.map((d) => d.shard.inventory));
  if (inventories.size > 1)
    throw new MergeError(
      files,
      `the shards come from different inventories (${byValue(docs, (d) => `inventory ${d.shard!.inventory!.slice(0, 19)}...`)}): ` +
        'merge the shards of one run, over one inventory file with the same hosts',
    );
  const limits = new Set(sharded.map((d) => d.shard.limit));
  if (limits.size > 1)
    throw new MergeError(
      files,
      `the shards were run with different --limit (${byValue(docs, (d) => (d.shard!.limit === null ? 'no --limit' : `--limit ${d.shard!.limit}`))}): ` +
        'merge the shards of one selection',
    );
  const counts = new Set(sharded.map((d) => d.shard.count));
  if (counts.size > 1)
    throw new MergeError(files, `the shards are of different counts (${describeInputs(docs)}): every shard of one run has the same n`);
  const selections = new Set(sharded.map((d) => JSON.stringify([...d.shard.selection].sort())));
  const selected = new Set(sharded.map((d) => d.shard.selected));
  if (selections.size > 1 || selected.size > 1) {
    const all = [...new Set(sharded.flatMap((d) => d.shard.selection))];
    const notEverywhere = all.filter((h) => !sharded.every((d) => d.shard.selection.includes(h)));
    throw new MergeError(
      files,
      `the shards selected different hosts before sharding (${docs.map((d) => `${d.file}: ${d.shard!.selected}`).join(', ')}` +
        `${notEverywhere.length ? `; not selected by every run: ${listOf(notEverywhere)}` : ''}): were they run with different inventories or --limit?`,
    );
  }
  const byIndex = new Map<number, string>();
  for (const d of sharded) {
    const other = byIndex.get(d.shard.index);
    if (other !== undefined)
      throw new MergeError([other, d.file], `${other} and ${d.file} are both shard ${d.shard.index}/${d.shard.count}`);
    byIndex.set(d.shard.index, d.file);
  }
  const count = [...counts][0];
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length)
    throw new MergeError(
      files,
      `shard ${missing.map((i) => `${i}/${count}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (given: ${describeInputs(docs)}): ` +
        'without every shard the result would not say whether all hosts succeeded',
    );
}

/**
 * Every host of a shard is one its hash puts there and that the selection holds, and every selected
 * host is in its shard's result: a result that lost a host, or holds one of another shard or run, is
 * not the run it claims to be.
 */
function checkHosts(docs: ShardedInput[]): void {
  if (docs.length === 1 && !docs[0].shard) return;
  const sharded = docs as Sharded[];
  const selection = new Set(sharded[0].shard.selection);
  const count = sharded[0].shard.count;
  const foreign: string[] = [];
  const foreignFiles = new Set<string>();
  const present = new Set<string>();
  for (const d of sharded) {
    for (const h of d.hosts) {
      present.add(h.host);
      const label = `${d.shard.index}/${count}`;
      if (!selection.has(h.host)) foreign.push(`${h.host} in ${d.file} (shard ${label}) was not selected by the run`);
      else if (shardOf(h.host, count) !== d.shard.index)
        foreign.push(`${h.host} in ${d.file} (shard ${label}) belongs to shard ${shardOf(h.host, count)}/${count} by its hash`);
      else continue;
      foreignFiles.add(d.file);
    }
  }
  const fileOf = new Map(sharded.map((d) => [d.shard.index, d.file]));
  const missing = [...selection]
    .filter((h) => !present.has(h))
    .map((h) => `${h} (shard ${shardOf(h, count)}/${count}, ${fileOf.get(shardOf(h, count))})`);
  if (!foreign.length && !missing.length) return;
  const parts = [
    ...(missing.length
      ? [`${missing.length === 1 ? 'a selected host is' : `${missing.length} selected hosts are`} in no result: ${listOf(missing)}`]
      : []),
    ...(foreign.length
      ? [
          `${foreign.length === 1 ? 'a host does' : `${foreign.length} hosts do`} not belong where ${foreign.length === 1 ? 'it is' : 'they are'}: ${listOf(foreign)}`,
        ]
      : []),
  ];
  const missingFiles = [...selection].filter((h) => !present.has(h)).map((h) => fileOf.get(shardOf(h, count))!);
  throw new MergeError(
    [...new Set([...missingFiles, ...foreignFiles])],
    `${parts.join('; ')}: these results are not the shards of one run over the ${selection.size} hosts it selected`,
  );
}

/** Every host once: a host in two inputs means the shards did not come from one inventory and n. */
function disjointHosts<H extends { host: string }>(docs: (ShardedInput & { hosts: H[] })[]): H[] {
  const fileOf = new Map<string, string>();
  const clashes: string[] = [];
  const clashFiles = new Set<string>();
  const hosts: H[] = [];
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
    const shown = listOf(clashes);
    throw new MergeError(
      [...clashFiles],
      `${clashes.length === 1 ? 'a host is' : `${clashes.length} hosts are`} in more than one result: ${shown}; ` +
        'each host must be in exactly one shard (the same inventory and n for every shard)',
    );
  }
  return hosts;
}

const listOf = (items: string[]) => items.slice(0, 5).join(', ') + (items.length > 5 ? `, and ${items.length - 5} more` : '');

const describeInputs = (docs: ShardedInput[]) =>
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
