// Saved plans: `plan --out FILE` writes one, `show FILE` prints it as `plan` did, and `apply FILE`
// applies exactly it on each host where it still holds (the engine checks each host: see
// checkSaved in engine/host.ts). The file's format and seal are in plans/format.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { defaultRunDir, type HostResult, runHosts } from '../engine/index.ts';
import type { SavedPlanOfHost } from '../engine/host.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_STALE, StalePlanError, UsageError } from '../errors.ts';
import { type Inventory, limitHosts, type ResolvedHost } from '../inventory/load.ts';
import { type Shard, shardHosts, shardLabel } from '../inventory/shard.ts';
import { sha256 } from '../plans/digest.ts';
import { type PlanBody, type PlanFile, parsePlan, newPlanId, serializePlan, PLAN_FORMAT, PLAN_FORMAT_VERSION } from '../plans/format.ts';
import { ConsoleReporter, resultsToJson, runExitCode } from '../report/index.ts';
import type { SelectionRecord } from '../report/merge.ts';
import type { Change } from '../resources/types.ts';
import { prepareHosts } from './ask-passwords.ts';
import { loadCommandInventory } from './inventory.ts';
import { EXIT_INTERRUPTED, interruptedReport, runInterruptibly } from './interrupt.ts';
import type { RunCommandOptions } from './run-options.ts';
import { version } from './version.ts';

export interface PlanOutput {
  inventory: Inventory;
  salt: string;
  shard: Shard | undefined;
  limit: string | undefined;
  selected: ResolvedHost[];
  record: SelectionRecord;
  results: HostResult[];
  json?: boolean;
}

/** `plan --out FILE`: the plan file, then on stdout exactly what `show FILE` prints. */
export function writePlanFile(file: string, out: PlanOutput): number {
  const body: PlanBody = {
    format: PLAN_FORMAT,
    formatVersion: PLAN_FORMAT_VERSION,
    id: newPlanId(),
    createdAt: new Date().toISOString(),
    mailprov: version(),
    salt: out.salt,
    // as given from here: `apply` in a fresh checkout of the same repository finds it at the same place
    inventory: {
      file: relative(process.cwd(), out.inventory.file) || out.inventory.file,
      sha256: sha256(readFileSync(out.inventory.file)),
    },
    selection: {
      limit: out.record.limit,
      shard: out.shard ? { index: out.shard.index, count: out.shard.count } : null,
      selected: out.selected.map((h) => h.name),
      record: out.record,
    },
    hosts: out.results.map((r) => ({
      host: r.host,
      address: r.address,
      os: r.os ?? null,
      // a plan has no 'skipped' host (no Ctrl-C there): anything but pending or unchanged could not be planned
      status: r.status === 'pending' || r.status === 'unchanged' ? r.status : 'failed',
      error: r.error ?? null,
      durationMs: r.durationMs,
      findings: r.findings,
      facts: r.saved?.facts ?? [],
      changes: r.saved?.changes ?? [],
    })),
  };
  writeFileSync(file, serializePlan(body));
  process.stdout.write(renderPlan(body, out.json));
  process.stderr.write(`\nplan ${body.id} saved to ${file}: review it (\`mailprov show ${file}\`), then \`mailprov apply ${file}\`\n`);
  return runExitCode('plan', resultsOf(body));
}

/** `show FILE`: the plan as `plan --out` printed it (diffs masked), or its JSON. */
export function showCommand(file: string, opts: { json?: boolean }): number {
  const plan = parsePlan(file, readFileSync(file, 'utf8'));
  process.stdout.write(renderPlan(plan, opts.json));
  return runExitCode('plan', resultsOf(plan));
}

/** What `plan --out` and `show` print: the same function over the same data, so the same text. */
export function renderPlan(plan: PlanBody, json?: boolean): string {
  const results = resultsOf(plan);
  const meta = { id: plan.id, createdAt: plan.createdAt, mailprov: plan.mailprov };
  if (json) return `${resultsToJson('plan', results, { inventory: plan.inventory.file, logs: null, plan: meta, ...sharding(plan) })}\n`;
  let text = '';
  const reporter = new ConsoleReporter({
    out: { write: (s: string) => (text += s), isTTY: false } as unknown as NodeJS.WriteStream,
    live: false,
  });
  const shard = plan.selection.shard;
  reporter.write(
    `plan ${plan.id} of ${plan.inventory.file}, made ${plan.createdAt} by mailprov ${plan.mailprov}` +
      `${shard ? `, shard ${shardLabel(shard)}` : ''}${plan.selection.limit ? `, --limit ${plan.selection.limit}` : ''}: ${plan.hosts.length} host(s)\n`,
  );
  reporter.printPlan(results);
  reporter.printFindings(results);
  reporter.printErrors(results);
  reporter.printSummary(results, undefined, true);
  return text;
}

/** `report merge` checks the shards of one selection: a sharded plan's JSON says which. */
function sharding(plan: PlanBody) {
  const s = plan.selection;
  return s.shard ? { shard: { ...s.shard, selected: s.selected.length, ...s.record } } : {};
}

/** The plan's hosts as a plan run's results, for the reporters. Step content is gone: only whether a step sends some. */
function resultsOf(plan: PlanBody): HostResult[] {
  return plan.hosts.map((h) => ({
    host: h.host,
    address: h.address,
    ...(h.os === null ? {} : { os: h.os }),
    status: h.status,
    changes: h.changes.map(
      (c): Change => ({
        resourceId: c.resourceId,
        action: c.action,
        summary: c.summary,
        reason: c.reason,
        ...(c.details.length ? { details: c.details } : {}),
        ...(c.diff ? { diff: c.diff } : {}),
        steps: c.steps.map((s) => ({ label: s.label, command: s.command, ...(s.stdin === null ? {} : { stdin: '' }) })),
        files: c.files,
        undo: [],
      }),
    ),
    applied: 0,
    findings: h.findings,
    durationMs: h.durationMs,
    ...(h.error === null ? {} : { error: h.error }),
  }));
}

/**
 * `apply PLANFILE`: the plan as a whole must still hold (mailprov's version, the inventory file,
 * the selection); then each host is applied while its own part holds, and refused otherwise.
 */
export async function applyPlanCommand(file: string, opts: RunCommandOptions): Promise<number> {
  const plan = parsePlan(file, readFileSync(file, 'utf8'));
  if (opts.limit !== undefined || opts.shard !== undefined)
    throw new UsageError(
      `--limit and --shard do not go with a plan file: ${file} applies to the hosts it was made for (its own selection)`,
    );
  const inventoryFile = resolve(plan.inventory.file);
  const hosts = await planHosts(plan, file, inventoryFile, opts);
  const saved = new Map<string, SavedPlanOfHost>(
    plan.hosts.map((h) => [h.host, { host: h, planId: plan.id, salt: plan.salt } satisfies SavedPlanOfHost]),
  );
  const reporter = new ConsoleReporter({ live: opts.json ? false : undefined, hosts: hosts.length });
  if (!opts.json) reporter.write(reporter.c.dim(`applying plan ${plan.id} (${file}) to ${hosts.length} host(s)\n`));
  const base = { forks: opts.forks, inventoryFile, saved, alwaysVerify: opts.verify };
  let results: HostResult[];
  let interrupted = false;
  let runDir: string | undefined;
  // --all-or-nothing: every host is checked first, changing nothing; any refusal stops them all,
  // except on a host where this plan was applied before, complete (a rollout that --max-fail or a
  // stale host stopped is finished by running it again). --dry-run: that check alone
  const checked =
    opts.allOrNothing || opts.dryRun
      ? await runHosts(hosts, { ...base, dryRun: true, emit: opts.json || !opts.dryRun ? () => {} : reporter.onEvent })
      : undefined;
  const refusedFirst = checked?.filter((r) => (r.refused && r.alreadyApplied === undefined) || r.status === 'failed') ?? [];
  if (checked && opts.dryRun) {
    results = checked;
  } else if (checked && refusedFirst.length) {
    results = checked.map((r) =>
      r.refused || r.status === 'failed'
        ? r
        : {
            ...r,
            status: 'skipped',
            changes: [],
            error: `not applied: --all-or-nothing, and ${refusedFirst.length} host(s) were refused or failed (${refusedFirst.map((x) => x.host).join(', ')})`,
          },
    );
  } else {
    runDir = defaultRunDir();
    ({ results, interrupted } = await runInterruptibly(file, false, (stop) =>
      runHosts(hosts, {
        ...base,
        dryRun: false,
        runDir,
        serial: opts.serial,
        maxFail: opts.maxFail,
        stop,
        emit: opts.json ? () => {} : reporter.onEvent,
      }),
    ));
  }
  reporter.finish();
  if (opts.json) {
    const extra = { inventory: inventoryFile, logs: runDir ?? null, plan: { id: plan.id, file }, ...sharding(plan) };
    process.stdout.write(`${resultsToJson('apply', results, extra)}\n`);
  } else {
    reporter.printFindings(results);
    reporter.printErrors(results);
    for (const r of results.filter((x) => x.refused))
      reporter.write(`\n${reporter.c.yellow.bold(`${r.host} refused:`)}\n${r.refused!.map((l) => `  ${l}`).join('\n')}\n`);
    reporter.write(notAppliedReport(results, file, reporter.c));
    reporter.printSummary(results, runDir, opts.dryRun);
  }
  if (interrupted) {
    process.stderr.write(interruptedReport(results, file));
    return EXIT_INTERRUPTED;
  }
  return applyPlanExitCode(results);
}

/**
 * The hosts this run did not reach, neither applied nor refused (--max-fail stopped the rollout,
 * --all-or-nothing, a Ctrl-C), grouped by why: the plan was not tried there, so it may still hold.
 */
export function notAppliedReport(results: readonly HostResult[], file: string, c: ConsoleReporter['c']): string {
  const byWhy = new Map<string, string[]>();
  for (const r of results)
    if (r.status === 'skipped' && !r.refused) byWhy.set(r.error ?? 'not applied', [...(byWhy.get(r.error ?? 'not applied') ?? []), r.host]);
  if (!byWhy.size) return '';
  let text = '';
  for (const [why, hosts] of byWhy) text += `\n${c.yellow.bold(`not applied on ${hosts.join(', ')}:`)}\n  ${why}\n`;
  return `${text}  the plan was not applied there: \`mailprov apply ${file}\` again applies it on each host where it still holds\n`;
}

/** 1 when a host failed, else 4 when one was refused (stale, applied before, or --all-or-nothing), else 0. */
export function applyPlanExitCode(results: readonly Pick<HostResult, 'status' | 'refused'>[]): number {
  if (runExitCode('apply', results as HostResult[]) === EXIT_FAILED) return EXIT_FAILED;
  return results.some((r) => r.refused || r.status === 'skipped') ? EXIT_STALE : EXIT_OK;
}

/** The plan's hosts, from the inventory as it is now, which must be the one planned with, selecting the same hosts. */
async function planHosts(plan: PlanFile, file: string, inventoryFile: string, opts: RunCommandOptions): Promise<ResolvedHost[]> {
  if (plan.mailprov !== version())
    throw new StalePlanError(`${file} was made by mailprov ${plan.mailprov}, this is ${version()}: make the plan again with this version`);
  let text: Buffer;
  try {
    text = readFileSync(inventoryFile);
  } catch (err) {
    throw new StalePlanError(`${file}: its inventory ${plan.inventory.file} cannot be read here (${(err as Error).message})`);
  }
  const now = sha256(text);
  if (now !== plan.inventory.sha256)
    throw new StalePlanError(
      `${file}: the inventory ${plan.inventory.file} changed since the plan: sha256 ${plan.inventory.sha256.slice(0, 16)} -> ${now.slice(0, 16)}; nothing was applied`,
    );
  const inventory = await loadCommandInventory(inventoryFile, opts);
  const selected = limitHosts(inventory, plan.selection.limit ?? undefined);
  const hosts = shardHosts(selected, plan.selection.shard ?? undefined);
  const names = (list: { name: string }[] | string[]) => list.map((h) => (typeof h === 'string' ? h : h.name)).join(', ');
  if (names(selected) !== names(plan.selection.selected) || names(hosts) !== names(plan.hosts.map((h) => h.host)))
    throw new StalePlanError(
      `${file}: the inventory now selects ${names(hosts) || 'no host'}, the plan was made for ${names(plan.hosts.map((h) => h.host)) || 'no host'}; nothing was applied`,
    );
  return prepareHosts(hosts, opts);
}
