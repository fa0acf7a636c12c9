// `mailprov status`: is mail flowing on every host? Read-only (no lock, no journal entry, no log):
// a table, --json, --prometheus FILE (node_exporter's textfile collector) or --nagios (a plugin's line).
import { readFileSync } from 'node:fs';
import { limitHosts } from '../inventory/load.ts';
import { selectionRecord } from '../report/merge.ts';
import { shardHosts, shardOption } from '../inventory/shard.ts';
import { describeError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import { statusHosts } from '../status/host.ts';
import { DEFAULT_THRESHOLDS, NAGIOS, nagiosReport, parseCount, parseDuration, type NagiosThresholds } from '../status/nagios.ts';
import { prometheusText, writeAtomically } from '../status/prometheus.ts';
import { statusExitCode, statusJson, statusTable } from '../status/render.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { prepareHosts } from './ask-passwords.ts';

export interface StatusCommandOptions extends InventoryCommandOptions {
  limit?: string;
  shard?: string;
  forks: number;
  json?: boolean;
  probe?: boolean;
  prometheus?: string;
  nagios?: boolean;
  warnQueue?: string;
  critQueue?: string;
  warnAge?: string;
  critAge?: string;
  warnCert?: string;
  critCert?: string;
  askSudoPass?: boolean;
  askKeyPass?: boolean;
}

export async function statusCommand(inventoryFile: string, opts: StatusCommandOptions): Promise<number> {
  if (!opts.nagios) return run(inventoryFile, opts);
  // a plugin that cannot do its work says UNKNOWN (exit 3), whatever went wrong
  try {
    return await run(inventoryFile, opts);
  } catch (err) {
    process.stdout.write(`MAILPROV UNKNOWN - ${redact(describeError(err)).split('\n')[0].replaceAll('|', ' ')}\n`);
    return NAGIOS.UNKNOWN;
  }
}

function thresholds(opts: StatusCommandOptions): NagiosThresholds {
  const d = DEFAULT_THRESHOLDS;
  return {
    warnQueue: opts.warnQueue === undefined ? d.warnQueue : parseCount(opts.warnQueue, '--warn-queue'),
    critQueue: opts.critQueue === undefined ? d.critQueue : parseCount(opts.critQueue, '--crit-queue'),
    warnAge: opts.warnAge === undefined ? d.warnAge : parseDuration(opts.warnAge, '--warn-age'),
    critAge: opts.critAge === undefined ? d.critAge : parseDuration(opts.critAge, '--crit-age'),
    warnCert: opts.warnCert === undefined ? d.warnCert : parseDuration(opts.warnCert, '--warn-cert'),
    critCert: opts.critCert === undefined ? d.critCert : parseDuration(opts.critCert, '--crit-cert'),
  };
}

async function run(inventoryFile: string, opts: StatusCommandOptions): Promise<number> {
  // wrong thresholds or --shard fail before any host is contacted
  const limits = thresholds(opts);
  const shard = shardOption(opts.shard);
  const inventory = await loadCommandInventory(inventoryFile, opts);
  const selected = limitHosts(inventory, opts.limit);
  const hosts = await prepareHosts(shardHosts(selected, shard), opts);
  const statuses = await statusHosts(hosts, opts.forks, { probe: opts.probe });
  // every text that leaves the process passes the redactor, as plan's and apply's do (the probe revealed the password)
  if (opts.prometheus) writeAtomically(opts.prometheus, redact(prometheusText(statuses)));
  if (opts.nagios) {
    const { line, code } = nagiosReport(statuses, limits);
    process.stdout.write(redact(`${line}\n`));
    return code;
  }
  if (opts.json) {
    // as plan's: what the shard was cut from, so that `report merge` can check the shards cover the selection
    const sharding = shard
      ? {
          shard: {
            ...shard,
            selected: selected.length,
            ...selectionRecord(
              readFileSync(inventory.file),
              inventory.hosts.map((h) => h.name),
              opts.limit,
              selected.map((h) => h.name),
            ),
          },
        }
      : {};
    process.stdout.write(redact(statusJson(statuses, { inventory: inventory.file, ...sharding })) + '\n');
  } else process.stdout.write(statusTable(statuses));
  // the metrics file carries the state: a timer or cron job that wrote it has succeeded
  return opts.prometheus ? 0 : statusExitCode(statuses);
}
