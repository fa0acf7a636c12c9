// Writes what a benchmark run shows from its results alone: bench/latest.md (its probe-cost section,
// written by bench/probe-cost.ts, kept), the speed tables of docs/benchmark.md between its bench markers, the
// README's speed section between its speed markers, and bench/latest.svg. Called by `npm run bench` after it measured, and by `npm run bench -- --render-only`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSvg } from './plot.ts';
import {
  BENCH_END,
  BENCH_START,
  docsSection,
  latestMarkdown,
  probeCostSection,
  readmeSection,
  replaceBetween,
  SPEED_END,
  SPEED_START,
  targetsNotes,
} from './report.ts';
import type { BenchResults } from './results.ts';

export const RESULTS_FILE = 'bench/results.json';
/** The page whose bench markers hold the tables and the picture. */
export const BENCH_PAGE = 'docs/benchmark.md';

export function readResults(root: string): BenchResults {
  return JSON.parse(readFileSync(join(root, RESULTS_FILE), 'utf8')) as BenchResults;
}

export function writeResults(root: string, r: BenchResults): string {
  const file = join(root, RESULTS_FILE);
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

/** Returns the files it wrote. The page and the README must hold the markers already: it is never guessed where the tables go. */
export async function writeReports(r: BenchResults, root: string): Promise<string[]> {
  const latest = join(root, 'bench/latest.md');
  const page = join(root, BENCH_PAGE);
  const svg = join(root, 'bench/latest.svg');
  const readme = join(root, 'README.md');
  const pageText = replaceBetween(readFileSync(page, 'utf8'), BENCH_START, BENCH_END, docsSection(r));
  const readmeText = replaceBetween(readFileSync(readme, 'utf8'), SPEED_START, SPEED_END, readmeSection(r));
  const picture = await renderSvg(r);
  const old = existsSync(latest) ? readFileSync(latest, 'utf8') : '';
  writeFileSync(latest, latestMarkdown(r, probeCostSection(old), targetsNotes(old)));
  writeFileSync(page, pageText);
  writeFileSync(readme, readmeText);
  writeFileSync(svg, picture);
  return [latest, page, readme, svg];
}
