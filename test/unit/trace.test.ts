// MAILPROV_TRACE=1: the phase breakdown mailprov prints on stderr as a command ends (src/trace.ts),
// in the format bench/profile.ts reads back for bench/latest.md.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTraceLines } from '../../bench/profile.ts';
import { traced, tracedSync, traceLines, traceReport, traceSpan } from '../../src/trace.ts';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('MAILPROV_TRACE', () => {
  it('keeps nothing and prints nothing when it is not set', async () => {
    vi.stubEnv('MAILPROV_TRACE', '');
    const before = traceLines().length;
    traceSpan('plan')();
    await traced('facts', async () => 1);
    expect(tracedSync('render', () => 2)).toBe(2);
    expect(traceLines()).toHaveLength(before);
    expect(traceReport()).toBe('');
  });

  it('sums a phase over its spans (hosts), in the order of a run, and prints lines the benchmark reads back', async () => {
    vi.stubEnv('MAILPROV_TRACE', '1');
    traceSpan('module load', 0)();
    // two hosts' facts, then a failing plan: its span still ends
    await Promise.all([traced('facts', () => new Promise((r) => setTimeout(r, 5))), traced('facts', async () => {})]);
    expect(() =>
      tracedSync('plan', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const lines = traceLines();
    expect(lines.map((l) => l.phase)).toEqual(['module load', 'facts', 'plan']);
    const facts = lines.find((l) => l.phase === 'facts')!;
    expect(facts.count).toBe(2);
    expect(facts.to - facts.from).toBeGreaterThanOrEqual(facts.totalMs - 6);
    const report = traceReport();
    expect(report).toMatch(/^trace: module load +0-\d+ ms +\d+ ms\n/);
    expect(report).toMatch(/\ntrace: facts +\d+-\d+ ms +\d+ ms in 2\n/);
    const read = parseTraceLines(`other stderr\n${report}`);
    expect(read.map((l) => l.phase)).toEqual(['module load', 'facts', 'plan', 'total']);
    expect(read[1].count).toBe(2);
  });
});
