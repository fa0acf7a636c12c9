// The benchmark's reports are functions of bench/results.json alone: medians, tables, and the section
// between the markers of docs/benchmark.md.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BENCH_END,
  BENCH_START,
  handTable,
  latestMarkdown,
  mainTable,
  medianSample,
  probeCostSection,
  docsSection,
  readmeSection,
  replaceBetween,
  rows,
  SPEED_END,
  SPEED_START,
  targets,
  targetsNotes,
} from '../../../bench/report.ts';
import { parseTraceLines } from '../../../bench/profile.ts';
import { fixtureResults } from './fixture.ts';

describe('figures from the samples', () => {
  it('takes the median of each tool, the floor of each N over all its scenarios, and flags failed runs', () => {
    const [dry, first, , converged] = rows(fixtureResults());
    expect(dry).toMatchObject({ name: 'dry run, fresh hosts', hosts: 1, floor: 0.2, loadBefore: 1, loadDuring: 2.3 });
    expect(dry.medians).toEqual({ mailprov: 0.35, mailprovNpx: 1, ansible: 4, floor: 0.2 });
    expect(dry.rssMb).toBe(76);
    // a first apply has no floor samples of its own, and no RSS (its run is traced line by line)
    expect(first.medians).toEqual({ mailprov: 7, ansible: 11, byHand: 6 });
    expect(first.floor).toBe(0.2);
    expect(first.rssMb).toBeUndefined();
    expect(converged.ok.ansible).toBe(false);
    expect(converged.ok.mailprov).toBe(true);
  });

  it('picks the median run (the lower one of an even count) to stand for a scenario', () => {
    const first = fixtureResults().scenarios[1];
    expect(medianSample(first.samples.mailprov)?.rep).toBe(3);
    expect(medianSample(first.samples.mailprov?.slice(0, 2))?.rep).toBe(2);
    expect(medianSample([])).toBeUndefined();
  });
});

describe('tables', () => {
  it('shows installed and npx runs of mailprov, ratios of the installed mailprov, and marks a median with a failed run', () => {
    const lines = mainTable(fixtureResults(), false).split('\n');
    expect(lines[0]).toBe(
      '| scenario                 | N  | mailprov s | npx mailprov s | ansible s | floor s | ansible/mailprov | mailprov/floor | mailprov peak RSS MB |',
    );
    expect(lines.slice(2, 6)).toEqual([
      '| dry run, fresh hosts     | 1  |       0.35 |           1.00 |      4.00 |    0.20 |            11.4x |           1.7x |                   76 |',
      '| first apply              | 1  |       7.00 |              - |     11.00 |    0.20 |             1.6x |          35.0x |                    - |',
      '| no-op re-apply           | 1  |       0.50 |           1.20 |      4.00 |    0.20 |             8.0x |           2.5x |                   80 |',
      '| dry run, converged hosts | 1  |       0.45 |           1.05 |  3.90 (!) |    0.20 |             8.7x |           2.3x |                   77 |',
    ]);
    expect(lines).toHaveLength(10);
    expect(mainTable(fixtureResults(), true).split('\n')[6]).toMatch(/\| {12}2\.0, 2\.3 \|$/);
  });

  it('compares the first apply with the same commands by hand, medians of both', () => {
    expect(handTable(fixtureResults())).toBe(
      [
        '| first apply | N  | mailprov s | by hand s | mailprov/by hand | within 1.2x |',
        '|:------------|:---|-----------:|----------:|-----------------:|------------:|',
        '| vs. by hand | 1  |       7.00 |      6.00 |            1.17x |         yes |',
        '| vs. by hand | 10 |      14.00 |     12.00 |            1.17x |         yes |',
      ].join('\n'),
    );
  });
});

describe('documents', () => {
  it('finds one pair of marker lines in docs/benchmark.md', () => {
    const page = readFileSync(new URL('../../../docs/benchmark.md', import.meta.url), 'utf8');
    const after = replaceBetween(page, BENCH_START, BENCH_END, 'TABLES');
    expect(after).toContain(`\n${BENCH_START}\nTABLES\n${BENCH_END}\n`);
    expect(after.split(`\n${BENCH_START}\n`)[0]).toBe(page.split(`\n${BENCH_START}\n`)[0]);
  });

  it('latest.md says how it was measured, links the picture, lists failures and keeps the probe-cost section', () => {
    const probe = '<!-- probe-cost:start -->\n## probe\n<!-- probe-cost:end -->';
    const md = latestMarkdown(fixtureResults(), probe);
    expect(md).toContain('Measured by `npm run bench -- --hosts 1,10 --reps 3`');
    expect(md).toContain('![Wall time against the number of hosts](latest.svg)');
    expect(md).toContain('- N=1 dry run, converged hosts, ansible #2: exit 2');
    expect(md).toContain('| first apply              | 10 | 14.20 13.80 14.00 |');
    expect(md).toContain('the median run, repetition 3');
    expect(md.trimEnd().endsWith(probe)).toBe(true);
    expect(latestMarkdown(fixtureResults())).not.toContain('probe-cost');
  });

  it('keeps every section a side benchmark wrote (probe-cost, jump-cost), and nothing else of the old file', () => {
    const old = [
      '# old figures',
      '<!-- probe-cost:start -->\n## probe\n<!-- probe-cost:end -->',
      'stale text',
      '<!-- jump-cost:start -->\n## jump\n<!-- jump-cost:end -->',
    ].join('\n');
    const kept = probeCostSection(old);
    expect(kept).toBe(
      '<!-- probe-cost:start -->\n## probe\n<!-- probe-cost:end -->\n\n<!-- jump-cost:start -->\n## jump\n<!-- jump-cost:end -->',
    );
    expect(probeCostSection('# nothing kept')).toBeUndefined();
  });

  it("replaces only what lies between the page's markers, and again the same way", () => {
    // the prose names the markers too: only the marker lines count
    const readme = `# x\n\n## Speed\n\nHow: between \`${BENCH_START}\` and \`${BENCH_END}\`.\n\n${BENCH_START}\nold table\n${BENCH_END}\n\nWhat moved the numbers.\n`;
    const once = replaceBetween(readme, BENCH_START, BENCH_END, docsSection(fixtureResults()));
    expect(
      once.startsWith(
        `# x\n\n## Speed\n\nHow: between \`${BENCH_START}\` and \`${BENCH_END}\`.\n\n${BENCH_START}\nLatest, on this machine (2 cores, 23.5 GiB, Node v20.20.2), 2026-11-24`,
      ),
    ).toBe(true);
    expect(once).toContain('![Wall time against the number of hosts, dry run and no-op re-apply');
    expect(once).not.toContain('old table');
    expect(
      once.endsWith(`1 failure(s) in this run: see [\`bench/latest.md\`](../bench/latest.md).\n${BENCH_END}\n\nWhat moved the numbers.\n`),
    ).toBe(true);
    expect(replaceBetween(once, BENCH_START, BENCH_END, docsSection(fixtureResults()))).toBe(once);
    expect(() => replaceBetween('no markers', BENCH_START, BENCH_END, 'x')).toThrow(/expected one line/);
    expect(() => replaceBetween(`${BENCH_END}\n${BENCH_START}\n`, BENCH_START, BENCH_END, 'x')).toThrow(/expected one line/);
    expect(() => replaceBetween(`${BENCH_START}\n${BENCH_END}\n${BENCH_START}\n`, BENCH_START, BENCH_END, 'x')).toThrow(
      /expected one line/,
    );
  });
});

describe('targets and the phase breakdown', () => {
  it('says of each target met, missed by how much, or not measured in this run', () => {
    const t = targets(fixtureResults());
    const of = (what: string) => t.find((x) => x.what.startsWith(what))!;
    expect(of('installed `mailprov plan`')).toMatchObject({ value: 0.45, goal: 0.5 });
    expect(of('plan on 10 converged hosts')).toMatchObject({ value: 0.9 / 0.4, goal: 1.3 });
    expect(of('first apply on 10 host(s)')).toMatchObject({ goal: 1.1 });
    expect(of('plan on 100 converged hosts').missing).toBe('not measured: this run had no N=100 (--hosts 1,10)');
    expect(of('start to first connect').missing).toMatch(/no phase breakdown/);
    const md = latestMarkdown(fixtureResults());
    expect(md).toMatch(/\| installed `mailprov plan`, 1 converged host, wall +\| <= 0\.50 s +\| +0\.45 s \| +met \|/);
    expect(md).toMatch(/\| plan on 10 converged hosts, mailprov\/floor +\| <= 1\.30x +\| +2\.25x \| +missed by 0\.95 \(73%\) \|/);
  });

  it('takes hundreds of hosts from the scale run kept in the results, and says so, when this run had none', () => {
    const r = fixtureResults();
    const run = (scenario: 'no-op re-apply' | 'dry run, converged hosts', tool: 'mailprov' | 'floor', seconds: number, ok = true) => ({
      scenario,
      tool,
      seconds,
      ok,
      detail: '',
      load: [1, 1] as [number, number],
    });
    r.scale = {
      date: '2026-11-24T00:36:00Z',
      command: 'npm run bench -- --scale 100 --converge-at 100',
      mailprovCommit: '435802e7d2aa',
      load: { before: [1, 1, 1], after: [1, 1, 1] },
      // the no-op apply has no floor of its own there: the converged dry run's floor stands for it
      ns: [
        {
          hosts: 100,
          forks: 100,
          sandbox: { upSeconds: 8, processes: 600, pssMbPerHost: 4, rssMbPerHost: 24, forwarderPssMb: 40 },
          runs: [
            run('dry run, converged hosts', 'mailprov', 12),
            run('dry run, converged hosts', 'floor', 10),
            run('no-op re-apply', 'mailprov', 15),
          ],
        },
      ],
      notes: [],
      failures: [],
    };
    const t = targets(r);
    const plan = t.find((x) => x.what.startsWith('plan on 100 converged hosts'))!;
    expect(plan).toMatchObject({ value: 1.2, goal: 1.2 });
    expect(plan.what).toContain('(scale run of 2026-11-24, mailprov 435802e7d2, one run)');
    expect(t.find((x) => x.what.startsWith('no-op apply on 100'))?.value).toBe(1.5);
    // a failed run there is no figure
    r.scale.ns[0].runs[0].ok = false;
    expect(targets(r).find((x) => x.what.startsWith('plan on 100'))?.missing).toMatch(/not measured/);
  });

  it("reads mailprov's MAILPROV_TRACE report and shows the median of each phase, the start of the first connect as a target", () => {
    const report = (connectAt: number) =>
      [
        'some warning on stderr',
        'trace: module load                         0-200 ms    198 ms in 2',
        `trace: inventory compile                 200-230 ms     30 ms`,
        `trace: handshake                         ${connectAt}-${connectAt + 50} ms     50 ms`,
        'trace: facts                             300-450 ms    150 ms',
        'trace: total                               0-460 ms',
      ].join('\n');
    const lines = parseTraceLines(report(240));
    expect(lines[0]).toEqual({ phase: 'module load', from: 0, to: 200, totalMs: 198, count: 2 });
    expect(lines.at(-1)).toEqual({ phase: 'total', from: 0, to: 460, totalMs: 460, count: 1 });
    const r = fixtureResults();
    r.phaseBreakdowns = [{ label: 'plan, 1 converged host', hosts: 1, runs: [230, 240, 400].map((t) => parseTraceLines(report(t))) }];
    expect(targets(r).find((x) => x.what.startsWith('start to first connect'))?.value).toBe(0.24);
    const md = latestMarkdown(r);
    expect(md).toContain('Where the time of a plan, 1 converged host goes, phase by phase (median of 3 runs');
    expect(md).toMatch(/\| module load +\| +\| +0 \| +200 \| +198 \| +43% \|/);
    expect(md).toMatch(/\| start to first connect .* \| <= 0\.25 s \| +0\.24 s \| +met \|/);
  });

  it('keeps the notes written by hand about the targets, right under their table', () => {
    const notes = '<!-- targets-notes:start -->\nWhy: the facts.\n<!-- targets-notes:end -->';
    expect(targetsNotes(`# old\n${notes}\nstale`)).toBe(notes);
    expect(targetsNotes('# nothing')).toBeUndefined();
    const md = latestMarkdown(fixtureResults(), undefined, notes);
    expect(md.indexOf(notes)).toBeGreaterThan(md.indexOf('Targets (issue 30)'));
    expect(md.indexOf(notes)).toBeLessThan(md.indexOf('| scenario '));
  });
});

describe("the README's speed section", () => {
  it('shows one host and the largest N, each against Ansible and its floor or by hand, and counts the goals met', () => {
    const r = fixtureResults();
    const text = readmeSection(r);
    const measured = targets(r).filter((t) => t.value !== undefined);
    const met = measured.filter((t) => t.value! <= t.goal).length;
    expect(text).toContain(`Speed goals met: ${met} of ${measured.length} measured (${targets(r).length} in all)`);
    const first = rows(r).find((x) => x.name === 'first apply' && x.hosts === 1)!;
    expect(text).toMatch(
      new RegExp(
        `\\| 1 +\\| \`apply\`, fresh hosts +\\| +${first.medians.mailprov!.toFixed(2)} s \\|.*by hand ${first.medians.byHand!.toFixed(2)} s \\|`,
      ),
    );
    expect(text).toContain('[docs/benchmark.md](docs/benchmark.md)');
  });

  it('is what the committed results say: README.md holds the section rendered from bench/results.json', () => {
    const readme = readFileSync('README.md', 'utf8');
    const results = JSON.parse(readFileSync('bench/results.json', 'utf8'));
    expect(replaceBetween(readme, SPEED_START, SPEED_END, readmeSection(results)), 'run `npm run bench -- --render-only`').toBe(readme);
  });
});
