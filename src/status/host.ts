// `mailprov status`, one host: connect, gather the resources' facts and the playbooks' status facts
// in one remote command, plan as `plan` does (drift = the changes an apply would make), read each
// playbook's status from the same facts, and with --probe run its probe. Read-only: no lock, no
// journal entry, no log file; a host that cannot be reached is a state of its own.
import { ConnectError, describeError } from '../errors.ts';
import { factQueries, planHost } from '../engine/plan.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import type { ProbeContext, ProbeStatus, ServiceStatus } from '../playbook/index.ts';
import { redact } from '../secrets/index.ts';
import { commandRunner } from '../transport/runner.ts';
import { connect, type Connection } from '../transport/ssh.ts';
import { tcpFromHost } from '../transport/tcp-from-host.ts';

/** ok: nothing to do; attention: drift, queued mail, the daemon down, or the probe failed; unreachable; failed: reached but not read. */
export type HostState = 'ok' | 'attention' | 'unreachable' | 'failed';

export interface HostStatus {
  host: string;
  address: string;
  state: HostState;
  /** Why the host is not ok, one line each. */
  problems: string[];
  /** Seconds since the epoch, by the controller's clock, when the host was read. */
  checkedAt: number;
  /** The changes `plan` would show (null when the host was not read). */
  drift: { changes: number; summaries: string[] } | null;
  /** The first bound playbook's status that has one (the sendmail relay's). */
  service: (ServiceStatus & { playbook: string }) | null;
  /** With --probe. */
  probe: ProbeStatus | null;
  /** For unreachable and failed: what went wrong (redacted). */
  error?: string;
}

export interface StatusOptions {
  probe?: boolean;
  /** Where a line of progress goes (the probe's evidence); nowhere by default. */
  log?: (line: string) => void;
}

export async function statusHost(host: ResolvedHost, opts: StatusOptions = {}): Promise<HostStatus> {
  const t = host.target;
  const status: HostStatus = {
    host: host.name,
    address: `${t.address}:${t.port}`,
    state: 'ok',
    problems: [],
    checkedAt: Math.floor(Date.now() / 1000),
    drift: null,
    service: null,
    probe: null,
  };
  let conn: Connection | undefined;
  try {
    try {
      conn = await connect(t);
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      return unread(status, 'unreachable', err);
    }
    const resources = host.playbooks.flatMap((p) => p.parts.resources);
    const statusParts = host.playbooks.flatMap((p) => (p.parts.status ? [{ name: p.name, parts: p.parts.status }] : []));
    const queries = [
      ...factQueries(resources),
      ...host.playbooks.flatMap((p) => p.parts.facts ?? []),
      ...statusParts.flatMap((s) => s.parts.facts),
    ];
    const facts = await gatherFacts(conn, queries);
    // the same planning `plan` does, from the same facts: drift is what an apply would change
    const plan = planHost(resources, facts);
    status.drift = { changes: plan.changes.length, summaries: plan.changes.map((c) => c.summary) };
    const first = statusParts[0];
    if (first) status.service = { playbook: first.name, ...first.parts.read(facts) };
    if (opts.probe && first?.parts.probe) {
      const log = opts.log ?? (() => {});
      const runner = commandRunner(conn, (l) => log(`${host.name}: ${l}`));
      const ctx: ProbeContext = {
        hostName: host.name,
        exec: (cmd, stdin) => runner.exec(cmd, stdin),
        connect: (address, port, o) => tcpFromHost(runner.conn, address, port, o),
        facts,
        log: (l) => runner.log(`probe: ${l}`),
        warn: (m) => runner.log(`probe: warning: ${m}`),
        info: (m) => runner.log(`probe: ${m}`),
      };
      status.probe = await first.parts.probe(ctx);
    }
    status.problems = problemsOf(status, status.checkedAt);
    status.state = status.problems.length ? 'attention' : 'ok';
    return status;
  } catch (err) {
    return unread(status, 'failed', err);
  } finally {
    conn?.close();
  }
}

function unread(status: HostStatus, state: 'unreachable' | 'failed', err: unknown): HostStatus {
  status.state = state;
  status.error = redact(describeError(err));
  status.problems = [state === 'unreachable' ? `unreachable: ${status.error}` : `could not be read: ${status.error}`];
  return status;
}

/** A certificate with fewer seconds left makes its host worth a look (the --nagios default WARNING). */
export const CERT_ATTENTION_SECONDS = 30 * 86400;

/** What makes a host worth a look; the thresholds of --nagios come on top of these (see nagios.ts). */
export function problemsOf(s: Pick<HostStatus, 'drift' | 'service' | 'probe'>, now = Math.floor(Date.now() / 1000)): string[] {
  const problems: string[] = [];
  if (s.drift?.changes) problems.push(`drifted: ${s.drift.changes} change(s) pending (see \`mailprov plan\`)`);
  if (s.service && !s.service.running) problems.push('sendmail is not running');
  const q = s.service?.queue;
  if (q?.messages) problems.push(`${q.messages} message(s) queued${q.causes[0] ? `: ${q.causes[0].text}` : ''}`);
  if (s.probe && !s.probe.ok) problems.push(`smart host probe failed: ${s.probe.text ?? s.probe.code}`);
  // a certificate that expires within a month needs someone (a new one pushed, or an apply that renews it)
  const cert = s.service?.certificate;
  if (cert && cert.expiresAt - now < CERT_ATTENTION_SECONDS)
    problems.push(
      cert.expiresAt <= now
        ? 'its certificate has expired: clients refuse TLS, and with it AUTH'
        : `its certificate expires in ${Math.floor((cert.expiresAt - now) / 86400)} day(s)`,
    );
  return problems;
}

/** At most `forks` hosts at a time, results in the inventory's order. */
export async function statusHosts(hosts: ResolvedHost[], forks: number, opts: StatusOptions = {}): Promise<HostStatus[]> {
  const results: HostStatus[] = new Array(hosts.length);
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const i = next++;
      results[i] = await statusHost(hosts[i], opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(forks, hosts.length) }, worker));
  return results;
}
