// Unified diffs of planned file changes (texts arrive already masked where they hold secrets).
import { createRequire } from 'node:module';
import type { FileDiff } from '../resources/types.ts';

// loaded on first use: a run with nothing to change shows no diff
let jsdiff: typeof import('diff') | undefined;

export function unifiedDiff(d: FileDiff): string {
  jsdiff ??= createRequire(import.meta.url)('diff') as typeof import('diff');
  const patch = jsdiff.createTwoFilesPatch(
    d.before === null ? '/dev/null' : `a${d.path}`,
    d.after === null ? '/dev/null' : `b${d.path}`,
    d.before ?? '',
    d.after ?? '',
    undefined,
    undefined,
    { context: 3 },
  );
  // drop jsdiff's "Index:"/"====" preamble: keep what `diff -u` prints
  return patch
    .split('\n')
    .filter((l) => !l.startsWith('Index: ') && !/^=+$/.test(l))
    .join('\n')
    .trimEnd();
}
