// Unified diffs of planned file changes (texts arrive already masked where they hold secrets).
import { createTwoFilesPatch } from 'diff';
import type { FileDiff } from '../resources/types.ts';

export function unifiedDiff(d: FileDiff): string {
  const patch = createTwoFilesPatch(
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
