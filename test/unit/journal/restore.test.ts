// A rollback restores what ran, and says what it could not: the journal's restore run for real
// under dash (the runner's connection is a local /bin/sh), with a file it cannot put back in the
// middle. The files before it are put back, the failing one and those after it are named as not
// put back, and each one put back equals its copy byte for byte.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostJournal } from '../../../src/journal/journal.ts';
import type { Generation } from '../../../src/journal/records.ts';
import { commandRunner } from '../../../src/transport/runner.ts';
import { localConnection } from '../local-host.ts';

describe('restoring a generation whose second file cannot be put back', () => {
  it('puts back the first, stops, and names what was and was not put back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mp-restore-'));
    const gensRoot = join(root, 'generations');
    const [a, b, c] = ['a.cf', 'b.db', 'c.conf'].map((f) => join(root, f));
    const gen = { id: 1, files: [a, b, c] } as Generation;
    const copies = join(gensRoot, '1', 'files');
    for (const f of [a, b, c]) {
      mkdirSync(join(copies, root), { recursive: true });
      writeFileSync(join(copies, f), `old ${f}\n`);
    }
    writeFileSync(a, 'new a\n');
    // a directory with something in it stands where b was: no file can replace it
    mkdirSync(join(b, 'inside'), { recursive: true });
    writeFileSync(c, 'new c\n');

    const log: string[] = [];
    const journal = new HostJournal(
      commandRunner(localConnection(gensRoot), (l) => log.push(l)),
      [gen],
      [],
    );
    const err = await journal.restoreFiles(gen).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain(`mailprov: step 2 of 3 failed (exit 1): put back ${b}`);
    expect(message).toContain(`files put back: ${a}`);
    expect(message).toContain(`files not put back (as the failed apply left them): ${b}, ${c}`);
    expect(readFileSync(a, 'utf8')).toBe(readFileSync(join(copies, a), 'utf8'));
    expect(readFileSync(c, 'utf8')).toBe('new c\n');
  });
});
