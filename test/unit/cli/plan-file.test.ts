// apply PLANFILE's outcome: its exit code over the hosts' results (a failure wins over a refusal),
// and the text that names the hosts a run did not reach (--max-fail, --all-or-nothing, Ctrl-C).
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { applyPlanExitCode, notAppliedReport } from '../../../src/cli/plan-file.ts';
import type { HostResult, HostStatus } from '../../../src/engine/events.ts';

const host = (name: string, status: HostStatus, more: Partial<HostResult> = {}): HostResult => ({
  host: name,
  address: '127.0.0.1:22',
  status,
  changes: [],
  applied: 0,
  findings: [],
  durationMs: 0,
  ...more,
});
const stale = (name: string) => host(name, 'skipped', { refused: ['/etc/mail/access changed since the plan: sha256 a -> b'] });
const done = (name: string) =>
  host(name, 'skipped', { refused: ['this plan was already applied here (generation 3, complete, ...)'], alreadyApplied: 3 });
const notStarted = (name: string) => host(name, 'skipped', { error: 'not started: 1 host(s) failed, more than --max-fail 0' });
const plain = new Chalk({ level: 0 });

describe('apply PLANFILE exit code', () => {
  it('0 when every host applied or had nothing to do', () => {
    expect(applyPlanExitCode([host('a', 'changed'), host('b', 'unchanged')])).toBe(0);
  });

  it('1 when a host failed or rolled back, whatever the others: refused, or not started by --max-fail', () => {
    expect(applyPlanExitCode([host('a', 'rolled-back'), notStarted('b'), notStarted('c')])).toBe(1);
    expect(applyPlanExitCode([stale('a'), host('b', 'failed'), notStarted('c')])).toBe(1);
  });

  it('4 when a host was refused (stale or applied before) or not applied, and none failed', () => {
    expect(applyPlanExitCode([stale('a'), host('b', 'changed'), host('c', 'changed')])).toBe(4);
    // a rollout finished in a second run: the hosts of the first are refused as applied before
    expect(applyPlanExitCode([host('a', 'changed'), done('b'), done('c')])).toBe(4);
    expect(applyPlanExitCode([stale('a'), host('b', 'skipped', { error: 'not applied: --all-or-nothing, and 1 host(s) ...' })])).toBe(4);
  });
});

describe('apply PLANFILE: the hosts not applied', () => {
  it('are named by why, with how to finish; refused hosts are not among them', () => {
    const text = notAppliedReport([host('a', 'rolled-back'), stale('b'), notStarted('c'), notStarted('d')], 'plan.json', plain);
    expect(text).toBe(
      '\nnot applied on c, d:\n  not started: 1 host(s) failed, more than --max-fail 0\n' +
        '  the plan was not applied there: `mailprov apply plan.json` again applies it on each host where it still holds\n',
    );
  });

  it('say nothing when every host was applied or refused', () => {
    expect(notAppliedReport([host('a', 'changed'), stale('b'), done('c')], 'plan.json', plain)).toBe('');
  });
});
