// The compact live view (more hosts than terminal rows): rendering is a pure function of a snapshot,
// events only update counts, redraws are throttled, failures and findings print once above the block.
import { Chalk } from 'chalk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineEvent, HostResult, HostStatus } from '../../../src/engine/events.ts';
import { ConsoleReporter } from '../../../src/report/console.ts';
import { formatDuration, LiveView, renderCompactSummary, renderLive, type LiveSnapshot } from '../../../src/report/live.ts';
import type { Change } from '../../../src/resources/types.ts';

const c = new Chalk({ level: 0 });

const snapshot: LiveSnapshot = {
  total: 1000,
  elapsedMs: 62_300,
  running: [
    { host: 'relay137', phase: 'applying', step: 3, total: 7, elapsedMs: 75_200 },
    { host: 'relay48', phase: 'verifying', elapsedMs: 12_000 },
    { host: 'relay500', phase: 'facts', elapsedMs: 400 },
    { host: 'relay501', phase: 'connecting', elapsedMs: 300 },
  ],
  done: { unchanged: 380, changed: 20, failed: 12 },
};

function result(host: string, status: HostStatus, extra: Partial<HostResult> = {}): HostResult {
  return { host, address: '127.0.0.1:22', os: 'debian 12', status, changes: [], applied: 0, findings: [], durationMs: 1500, ...extra };
}

const change: Change = {
  resourceId: 'file:/etc/x',
  action: 'update',
  summary: 'write /etc/x',
  reason: 'content differs',
  steps: [],
  undo: [],
};

describe('renderLive', () => {
  it('shows progress, hosts per phase and outcome, and the slowest hosts', () => {
    expect(renderLive(snapshot, { width: 100, c, slowest: 3 })).toEqual([
      '[############------------------] 412/1000 hosts done  41%  1m02s',
      'at work  connecting 1  facts 1  applying 1  verifying 1  waiting 584',
      'done     unchanged 380  changed 20  failed 12',
      'slowest  relay137  applying 3/7     1m15s',
      '         relay48   verifying        12.0s',
      '         relay500  facts            0.4s',
    ]);
  });

  it('cuts every line to the width, so a redraw never wraps', () => {
    const lines = renderLive(snapshot, { width: 27, c });
    expect(lines).toHaveLength(3 + 4);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(27);
    expect(lines[1]).toBe('at work  connecting 1  fac…');
  });

  it('says so when nothing has started or finished', () => {
    expect(renderLive({ total: 3, elapsedMs: 0, running: [], done: {} }, { width: 80, c })).toEqual([
      '[------------------------------] 0/3 hosts done  0%  0.0s',
      'at work  waiting 3',
      'done     none',
    ]);
  });

  it('keeps color codes out of the width', () => {
    const colored = renderLive(snapshot, { width: 30, c: new Chalk({ level: 1 }) });
    for (const l of colored) expect(l.replace(/\x1b\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(30);
  });

  it('formats durations', () => {
    expect([400, 12_000, 75_200, 3_725_000].map(formatDuration)).toEqual(['0.4s', '12.0s', '1m15s', '1h02m']);
  });
});

describe('LiveView', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function view(total: number) {
    const writes: string[] = [];
    const v = new LiveView({ total, write: (s) => writes.push(s), c, columns: () => 80, now: () => Date.now(), intervalMs: 100 });
    return { v, writes };
  }

  it('draws at most every 100 ms however many events come: the cost does not grow with events', () => {
    const { v, writes } = view(1000);
    for (let i = 1; i <= 1000; i++) {
      for (const phase of ['connecting', 'facts', 'planning'] as const) v.onEvent({ kind: 'host-phase', host: `relay${i}`, phase });
      v.onEvent({ kind: 'host-done', result: result(`relay${i}`, 'unchanged') });
      if (i % 100 === 0) vi.advanceTimersByTime(50);
    }
    v.finish();
    // 4000 events over 500 ms: about 5 redraws and the final one
    expect(writes.length).toBeLessThanOrEqual(7);
    expect(writes.at(-1)).toContain('1000/1000 hosts done  100%');
    expect(writes.at(-1)).toContain('done     unchanged 1000');
  });

  it('prints each failure once, above the block, and each finding the first time it is seen', () => {
    const { v, writes } = view(3);
    const warn = { level: 'warning', code: 'queue', message: '3 messages wait' } as const;
    const events: EngineEvent[] = [
      { kind: 'host-phase', host: 'relay1', phase: 'connecting' },
      { kind: 'host-phase', host: 'relay2', phase: 'connecting' },
      { kind: 'host-finding', host: 'relay1', finding: warn },
      { kind: 'host-finding', host: 'relay2', finding: warn },
      { kind: 'host-done', result: result('relay1', 'failed', { error: 'relay1: connection refused\nat 127.0.0.1:22' }) },
    ];
    for (const e of events) v.onEvent(e);
    vi.advanceTimersByTime(100);
    v.onEvent({ kind: 'host-phase', host: 'relay2', phase: 'facts' });
    vi.advanceTimersByTime(100);
    v.finish();
    const all = writes.join('');
    expect(all.match(/relay1 failed: relay1: connection refused\n/g)).toHaveLength(1);
    expect(all).not.toContain('at 127.0.0.1:22');
    expect(all.match(/warning \[queue\] 3 messages wait/g)).toHaveLength(1);
    expect(writes[0]).toBe(
      [
        'relay1: warning [queue] 3 messages wait',
        'relay1 failed: relay1: connection refused',
        '[##########--------------------] 1/3 hosts done  33%  0.1s',
        'at work  connecting 1  waiting 1',
        'done     failed 1',
        'slowest  relay2  connecting       0.1s',
        '',
      ].join('\n'),
    );
    // the next draw goes back over the 4 lines of the block, clears them and draws anew
    expect(writes[1].startsWith('\x1b[4A\r\x1b[J[##########')).toBe(true);
    expect(writes[1]).toContain('slowest  relay2  facts            0.2s');
  });

  it('redraws once a second without events, so elapsed times move, and stops with finish()', () => {
    const { v, writes } = view(2);
    v.onEvent({ kind: 'host-phase', host: 'relay1', phase: 'applying' });
    vi.advanceTimersByTime(100);
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(900);
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(writes).toHaveLength(2);
    v.finish();
    vi.advanceTimersByTime(5000);
    expect(writes).toHaveLength(2);
  });
});

describe('ConsoleReporter on a terminal', () => {
  function terminal(rows: number) {
    const written: string[] = [];
    const out = { isTTY: true, rows, columns: 80, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    return { out, text: () => written.join('') };
  }

  it('keeps a line per host while they fit the screen', () => {
    const t = terminal(24);
    const r = new ConsoleReporter({ out: t.out, color: false, hosts: 3 });
    r.onEvent({ kind: 'host-phase', host: 'relay1', phase: 'connecting' });
    r.finish();
    expect(t.text()).toContain('relay1           connecting');
  });

  it('switches to the compact view past a screen of hosts, and groups unchanged hosts in the summary', () => {
    vi.useFakeTimers();
    try {
      const t = terminal(24);
      const r = new ConsoleReporter({ out: t.out, color: false, hosts: 30 });
      const results = Array.from({ length: 30 }, (_, i) => result(`relay${i + 1}`, 'unchanged'));
      results[4] = result('relay5', 'pending', { changes: [change, change] });
      results[9] = result('relay10', 'failed', { error: 'relay10: refused' });
      for (const res of results) {
        r.onEvent({ kind: 'host-phase', host: res.host, phase: 'facts' });
        r.onEvent({ kind: 'host-done', result: res });
      }
      r.finish();
      expect(t.text()).not.toContain('relay1           facts');
      expect(t.text()).toContain('30/30 hosts done  100%');
      const before = t.text().length;
      r.printPlan(results);
      r.printSummary(results, undefined, true);
      const after = t.text().slice(before);
      expect(after).not.toContain('relay1 ');
      expect(after).toContain('\nrelay5 (127.0.0.1:22, debian 12)\n');
      expect(after).toContain(
        [
          'host     os         pending  status           time',
          'relay5   debian 12  2        changes pending  1.5s',
          'relay10  debian 12  0        failed           1.5s',
          '28 hosts unchanged',
          '',
          '2 changes pending on 1 host, 28 hosts unchanged, 1 failed',
        ].join('\n'),
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it('stays complete without a terminal', () => {
    const written: string[] = [];
    const out = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const r = new ConsoleReporter({ out, hosts: 1000 });
    r.onEvent({ kind: 'host-phase', host: 'relay1', phase: 'facts' });
    const results = [result('relay1', 'unchanged'), result('relay2', 'unchanged')];
    r.printSummary(results);
    // a line per event, and the full table
    expect(written.join('')).toContain('relay1: facts\n');
    expect(written.join('')).toMatch(/\nrelay1 +debian 12 +0 +unchanged +1\.5s *\nrelay2 +debian 12 +0 +unchanged/);
  });
});

describe('renderCompactSummary', () => {
  it('lists changed, failed and skipped hosts, the unchanged as one line, and each finding once with its hosts', () => {
    const warn = { level: 'warning', code: 'no-fqdn', message: 'no domain' } as const;
    const results = [
      ...Array.from({ length: 412 }, (_, i) => result(`relay${i + 1}`, 'unchanged', { findings: [warn] })),
      result('relay413', 'changed', { changes: [change], pruned: [1, 2] }),
      result('relay414', 'rolled-back', { error: 'verification failed' }),
      result('relay415', 'skipped'),
    ];
    expect(renderCompactSummary(results, { c, dryRun: false, runDir: '/r' })).toBe(
      [
        '',
        'host      os         changed  status       time',
        'relay413  debian 12  1        changed      1.5s',
        'relay414  debian 12  0        rolled back  1.5s',
        'relay415  debian 12  0        skipped      1.5s',
        '412 hosts unchanged',
        'warning [no-fqdn] no domain: 412 hosts (relay1, relay2, relay3, ...)',
        '',
        '1 change on 1 host, 412 hosts unchanged, 1 failed',
        'pruned 2 older generations (keepGenerations), see `mailprov history`',
        'logs: /r',
        '',
      ].join('\n'),
    );
  });
});
