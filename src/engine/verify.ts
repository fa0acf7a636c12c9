// Post-apply (and post-rollback) verification: each playbook proves its own work on the host.
import type { HostFacts } from '../facts/types.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import type { Finding } from '../playbook/index.ts';
import type { Runner } from '../transport/runner.ts';
import type { Phase } from './events.ts';

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
    await p.parts.verify({
      hostName: host.name,
      mode,
      exec: (cmd, stdin) => runner.exec(cmd, stdin),
      facts,
      log: (l) => runner.log(`verify${mode === 'rollback' ? ' after rollback' : ''}: ${l}`),
      warn: (message) => finding({ level: 'warning', code: 'not-verified', message }),
    });
  }
}
