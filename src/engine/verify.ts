// Post-apply (and post-rollback) verification: each playbook proves its own work on the host.
import type { HostFacts } from '../facts/types.ts';
import type { BoundPlaybook, ResolvedHost } from '../inventory/load.ts';
import type { Finding, ProbeContext } from '../playbook/index.ts';
import type { Change } from '../resources/types.ts';
import type { Runner } from '../transport/runner.ts';
import { tcpFromHost } from '../transport/tcp-from-host.ts';
import type { Phase } from './events.ts';

function probeContext(runner: Runner, host: ResolvedHost, facts: HostFacts, label: string, finding: (f: Finding) => void): ProbeContext {
  return {
    hostName: host.name,
    exec: (cmd, stdin) => runner.exec(cmd, stdin),
    connect: (address, port, opts) => tcpFromHost(runner.conn, address, port, opts),
    facts,
    log: (l) => runner.log(`${label}: ${l}`),
    warn: (message, code) => finding({ level: 'warning', code: code ?? 'not-verified', message }),
    info: (message, code) => finding({ level: 'info', code: code ?? label.replaceAll(' ', '-'), message }),
  };
}

/** `plan --probe`: each playbook's read-only checks of what lies beyond the host. */
export async function probePlaybooks(
  runner: Runner,
  host: ResolvedHost,
  facts: HostFacts,
  phase: (phase: Phase, extra?: { detail?: string }) => void,
  finding: (f: Finding) => void,
): Promise<void> {
  for (const p of host.playbooks) {
    if (!p.parts.probe) continue;
    phase('probing', { detail: p.name });
    await p.parts.probe(probeContext(runner, host, facts, 'probe', finding));
  }
}

/**
 * Which playbooks verify after an apply with these changes: every one, unless every change is of a
 * self-contained playbook (PlaybookParts.selfContained), which then verify alone: an aliases-only
 * change cannot affect the relay, so the smart-host probe is not run for it. `always` (--verify):
 * every one.
 */
export function playbooksToVerify(playbooks: BoundPlaybook[], changes: Change[], always = false): BoundPlaybook[] {
  if (always) return playbooks;
  const ownerOf = (id: string) => playbooks.find((p) => p.parts.resources.some((r) => r.id === id));
  const owners = changes.map((c) => ownerOf(c.resourceId));
  if (owners.some((p) => !p?.parts.selfContained)) return playbooks;
  return playbooks.filter((p) => owners.includes(p));
}

export async function verifyPlaybooks(
  runner: Runner,
  host: ResolvedHost,
  facts: HostFacts,
  mode: 'apply' | 'rollback',
  phase: (phase: Phase, extra?: { detail?: string }) => void,
  finding: (f: Finding) => void,
): Promise<void> {
  for (const p of host.playbooks) {
    if (!p.parts.verify) continue;
    phase('verifying', { detail: p.name });
    const label = mode === 'rollback' ? 'verify after rollback' : 'verify';
    await p.parts.verify({ ...probeContext(runner, host, facts, label, finding), mode });
  }
}
