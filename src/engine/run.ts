// Runs every host through runHost, at most `forks` at a time. One host failing never stops others.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedHost } from '../inventory/load.ts';
import { MailprovError } from '../errors.ts';
import type { EventSink, HostResult } from './events.ts';
import { runHost, type SavedPlanOfHost, type StopRequest } from './host.ts';
import type { ReconnectPolicy } from '../transport/reconnect.ts';

export interface RunOptions {
  dryRun: boolean;
  forks: number;
  emit: EventSink;
  /** Folder for this run's per-host logs; none when undefined. */
  runDir?: string;
  alwaysVerify?: boolean;
  probe?: boolean;
  inventoryFile?: string;
  /** Apply in batches of this many hosts (a number, or "N%" of the hosts), as Ansible's `serial`. */
  serial?: string;
  /** Stop the rollout once more than this many hosts failed; the rest stay untouched. */
  maxFail?: number;
  firewallConfirmSeconds?: number;
  /** Fault injection for tests: a late firewall confirmation. */
  firewallConfirmDelayMs?: number;
  /** How a dropped connection is brought back (default: about half a minute of attempts). */
  reconnect?: ReconnectPolicy;
  /** A first Ctrl-C sets it: no new host or step starts, each running step finishes (see host.ts). */
  stop?: StopRequest;
  /** `plan --out`: keep what a plan file needs of each host (HostResult.saved), scrypt digests with this salt. */
  save?: { salt: string };
  /** `apply PLANFILE`: each host's saved plan, by host name (every host run has one). */
  saved?: ReadonlyMap<string, SavedPlanOfHost>;
}

/** "3" -> 3 hosts per batch, "25%" -> a quarter of them (at least 1); none -> all at once. */
export function batchSize(serial: string | undefined, total: number): number {
  if (!serial) return Math.max(1, total);
  const m = /^(\d+)(%?)$/.exec(serial.trim());
  if (!m || Number(m[1]) < 1) throw new MailprovError(`--serial ${serial}: expected a number of hosts or a percentage, e.g. 2 or 25%`);
  return m[2] ? Math.max(1, Math.floor((total * Number(m[1])) / 100)) : Number(m[1]);
}

export async function runHosts(hosts: ResolvedHost[], opts: RunOptions): Promise<HostResult[]> {
  // logs may hold what a host printed: readable by their owner only
  if (opts.runDir) mkdirSync(opts.runDir, { recursive: true, mode: 0o700 });
  const results: HostResult[] = [];
  const size = batchSize(opts.serial, hosts.length);
  for (let start = 0; start < hosts.length; start += size) {
    const failed = results.filter((r) => r.status === 'failed' || r.status === 'rolled-back').length;
    if (opts.maxFail !== undefined && failed > opts.maxFail) {
      // the rollout stops: hosts of later batches are not touched at all
      for (const h of hosts.slice(start))
        results.push(skipped(h, `not started: ${failed} host(s) failed, more than --max-fail ${opts.maxFail}`));
      break;
    }
    if (opts.stop?.requested) {
      for (const h of hosts.slice(start)) results.push(notStarted(h));
      break;
    }
    results.push(...(await runBatch(hosts.slice(start, start + size), opts)));
  }
  return results;
}

async function runBatch(hosts: ResolvedHost[], opts: RunOptions): Promise<HostResult[]> {
  const results: HostResult[] = new Array(hosts.length);
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const i = next++;
      const host = hosts[i];
      if (opts.stop?.requested) {
        results[i] = notStarted(host);
        continue;
      }
      results[i] = await runHost(host, {
        dryRun: opts.dryRun,
        emit: opts.emit,
        logFile: opts.runDir ? join(opts.runDir, `${host.name}.log`) : undefined,
        alwaysVerify: opts.alwaysVerify,
        probe: opts.probe,
        inventoryFile: opts.inventoryFile,
        firewallConfirmSeconds: opts.firewallConfirmSeconds,
        firewallConfirmDelayMs: opts.firewallConfirmDelayMs,
        reconnect: opts.reconnect,
        stop: opts.stop,
        save: opts.save,
        saved: opts.saved?.get(host.name),
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.forks, hosts.length)) }, worker));
  return results;
}

function notStarted(host: ResolvedHost): HostResult {
  return { ...skipped(host, 'not started: the run was interrupted (Ctrl-C)'), stopped: 'not started' };
}

function skipped(host: ResolvedHost, why: string): HostResult {
  return {
    host: host.name,
    address: `${host.target.address}:${host.target.port}`,
    status: 'skipped',
    changes: [],
    applied: 0,
    findings: [],
    durationMs: 0,
    error: why,
  };
}

export function defaultRunDir(base = join(process.cwd(), '.mailprov', 'runs')): string {
  return join(base, new Date().toISOString().replace(/[:.]/g, '-'));
}
