// What the next run says about a generation whose run was cut off, from its steps' folders: the
// cut-off step finished (when, with which exit), still runs, died, or never began; never a guess
// at a cause the host cannot tell. And what an interrupted apply prints per host.
import { describe, expect, it } from 'vitest';
import { interruptedReport } from '../../../src/cli/run.ts';
import { describeIncomplete } from '../../../src/engine/left-steps.ts';
import type { HostResult } from '../../../src/engine/events.ts';
import type { Generation } from '../../../src/journal/index.ts';
import type { LeftStep, StepOutcome } from '../../../src/transport/detached.ts';
import { generation } from '../fixtures.ts';

const gen = (kind: Generation['kind'] = 'apply'): Generation =>
  generation(4, { kind, status: 'in-progress', startedAt: '2026-12-07T00:17:00Z', by: 'ops@laptop pid 77' });
const step = (outcome: StepOutcome, label = 'install sendmail'): LeftStep => ({ gen: 4, name: '1-001', label, outcome });

describe('describeIncomplete', () => {
  it('a step that finished: when, with which exit, and what happens now', () => {
    expect(describeIncomplete(gen(), [step({ state: 'finished', code: 0, at: '2026-12-07T00:17:48Z' })], false)).toBe(
      'generation 4 was left incomplete: the connection of its run (ops@laptop pid 77) was lost during "install sendmail"; ' +
        'it finished on the host at 00:17:48 UTC with exit 0 (done): rolling the generation back first, as an apply that did not complete is',
    );
  });
  it('a step still running is waited for; one that died is said to have died; a dry run says what the next run does', () => {
    expect(describeIncomplete(gen(), [step({ state: 'running' })], true)).toMatch(
      /during "install sendmail", which still runs on the host; the next apply or rollback waits for it, then rolls the generation back$/,
    );
    expect(describeIncomplete(gen(), [step({ state: 'died' })], false)).toMatch(
      /during "install sendmail", which died on the host without an exit status \(killed, or the host restarted\): rolling the generation back first$/,
    );
    expect(describeIncomplete(gen(), [], false)).toMatch(/was lost before its first step ran: rolling the generation back first$/);
  });
  it('never says a controller died', () => {
    const all: StepOutcome[] = [{ state: 'finished', code: 1, at: 'x' }, { state: 'running' }, { state: 'died' }, { state: 'not-started' }];
    for (const o of all) for (const dry of [true, false]) expect(describeIncomplete(gen(), [step(o)], dry)).not.toMatch(/controller died/);
    expect(describeIncomplete(gen('rollback'), [], false)).not.toMatch(/controller died/);
  });
});

describe('interruptedReport', () => {
  const result = (over: Partial<HostResult>): HostResult => ({
    host: 'relay1',
    address: '127.0.0.1:22',
    status: 'rolled-back',
    changes: [],
    applied: 1,
    findings: [],
    durationMs: 0,
    ...over,
  });
  it('says per host where it stopped and what to run next', () => {
    const text = interruptedReport(
      [
        result({ stopped: 'after change 1 of 8 (install sendmail (apt))', rolledBack: { generation: 3, restored: [] } }),
        result({ host: 'relay2', status: 'skipped', stopped: 'not started' }),
        result({ host: 'relay3', status: 'changed' }),
      ],
      'inv.ts',
    );
    expect(text.split('\n')).toEqual([
      '',
      'interrupted (Ctrl-C): every host is consistent, where each stopped:',
      '  relay1: stopped after change 1 of 8 (install sendmail (apt)); generation 3 was rolled back, the host is as it was before this run (packages installed stay). Next: mailprov apply inv.ts',
      '  relay2: not started; nothing was changed. Next: mailprov apply inv.ts',
      '  relay3: finished (changed); nothing more to do',
      '',
    ]);
  });
});
