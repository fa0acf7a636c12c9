// `npm run bench -- --render-only`: latest.md, the tables of docs/benchmark.md and latest.svg written from
// bench/results.json alone.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readResults, writeReports, writeResults } from '../../../bench/render.ts';
import { BENCH_END, BENCH_START, SPEED_END, SPEED_START } from '../../../bench/report.ts';
import { fixtureResults } from './fixture.ts';

describe('--render-only', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("writes latest.md, the tables of docs/benchmark.md, the README's speed section and latest.svg from results.json alone", async () => {
    root = mkdtempSync(join(tmpdir(), 'bench-render-'));
    mkdirSync(join(root, 'bench'));
    mkdirSync(join(root, 'docs'));
    writeResults(root, fixtureResults());
    const probe = '<!-- probe-cost:start -->\nkept\n<!-- probe-cost:end -->';
    writeFileSync(join(root, 'bench/latest.md'), `# old\n\n${probe}\n`);
    writeFileSync(join(root, 'docs/benchmark.md'), `intro\n${BENCH_START}\n${BENCH_END}\nrest\n`);
    writeFileSync(join(root, 'README.md'), `# x\n\n## Speed\n\n${SPEED_START}\nold\n${SPEED_END}\n\nmore\n`);
    const written = await writeReports(readResults(root), root);
    expect(written.map((f) => f.slice(root!.length + 1))).toEqual([
      'bench/latest.md',
      'docs/benchmark.md',
      'README.md',
      'bench/latest.svg',
    ]);
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toMatch(
      /^# x\n\n## Speed\n\n<!-- speed:start -->\nMeasured by `npm run bench` [\s\S]*\n<!-- speed:end -->\n\nmore\n$/,
    );
    expect(readFileSync(join(root, 'bench/latest.md'), 'utf8')).toContain(probe);
    expect(readFileSync(join(root, 'docs/benchmark.md'), 'utf8')).toMatch(
      /^intro\n<!-- bench:start -->\nLatest, [\s\S]*\n<!-- bench:end -->\nrest\n$/,
    );
    expect(readFileSync(join(root, 'bench/latest.svg'), 'utf8')).toMatch(/^<svg /);
  });

  it('writes nothing when the benchmark page has no markers', async () => {
    root = mkdtempSync(join(tmpdir(), 'bench-render-'));
    mkdirSync(join(root, 'bench'));
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'bench/latest.md'), 'old\n');
    writeFileSync(join(root, 'docs/benchmark.md'), 'no markers\n');
    writeFileSync(join(root, 'README.md'), 'no markers either\n');
    await expect(writeReports(fixtureResults(), root)).rejects.toThrow(/expected one line/);
    expect(readFileSync(join(root, 'bench/latest.md'), 'utf8')).toBe('old\n');
  });

  it('writes nothing when the README has no speed markers', async () => {
    root = mkdtempSync(join(tmpdir(), 'bench-render-'));
    mkdirSync(join(root, 'bench'));
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'bench/latest.md'), 'old\n');
    writeFileSync(join(root, 'docs/benchmark.md'), `intro\n${BENCH_START}\n${BENCH_END}\n`);
    writeFileSync(join(root, 'README.md'), '# x\n');
    await expect(writeReports(fixtureResults(), root)).rejects.toThrow(/expected one line <!-- speed:start -->/);
    expect(readFileSync(join(root, 'bench/latest.md'), 'utf8')).toBe('old\n');
    expect(readFileSync(join(root, 'docs/benchmark.md'), 'utf8')).toBe(`intro\n${BENCH_START}\n${BENCH_END}\n`);
  });
});
