// Local commands through zx: values quoted for bash, stdin closed, failures as a SandboxError that
// carries the command, exit code and output, the same in the blocking form.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { local, localSync } from '../../../src/sandbox/local.ts';

const hostile = ["it's", '$(touch /tmp/pwned-local)', '`id`', 'a b', 'line\nbreak', '*', '', '-n', '"q"', '\\'];

describe('local commands', () => {
  it('passes every interpolated value as one word, unexpanded, an array as one word per element', async () => {
    const out = await local()`printf '%s|' ${hostile} ${'last one'}`;
    expect(out.stdout).toBe(`${[...hostile, 'last one'].join('|')}|`);
    expect(localSync()`printf '%s|' ${hostile}`.stdout).toBe(`${hostile.join('|')}|`);
  });

  it('runs bash, with errexit and pipefail', async () => {
    expect((await local()`echo $BASH_VERSION; echo $-; shopt -o pipefail`).stdout).toMatch(/^\d+\.\d+.*\n.*e.*\npipefail\s+on\n$/);
    await expect(local()`false | true`).rejects.toThrow(SandboxError);
  });

  it('gives the command /dev/null as stdin, or the input it is given', async () => {
    expect((await local()`cat; readlink /proc/self/fd/0`).stdout).toBe('/dev/null\n');
    expect(localSync()`cat`.stdout).toBe('');
    expect((await local({ input: 'abc' })`cat`).stdout).toBe('abc');
  });

  it('turns a failure into a SandboxError with the command, exit code and output, its tail in the message', async () => {
    const err = await local({ what: 'making a thing' })`echo out; echo err >&2; exit ${3}`.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    const e = err as SandboxError;
    expect(e.message).toBe('making a thing: echo out; echo err >&2; exit 3 failed (exit 3)\nerr');
    expect(e.failed).toEqual({ command: 'echo out; echo err >&2; exit 3', exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a missing program and a signal the same way', async () => {
    await expect(local()`no-such-program-here ${'x'}`).rejects.toThrow(/^no-such-program-here x failed \(exit 127\)\n.*command not found/);
    const e = (await local()`kill -TERM $$`.catch((x: unknown) => x)) as SandboxError;
    expect(e.failed?.signal).toBe('SIGTERM');
    expect(e.message).toMatch(/was ended by SIGTERM/);
  });

  it('throws from the blocking form too, and leaves no unhandled rejection behind', async () => {
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      expect(() => localSync({ what: 'x' })`exit 4`).toThrow(/^x: exit 4 failed \(exit 4\)$/);
      // Node reports a promise rejected without a handler once the task that rejected it has ended:
      // the next setImmediate runs after that report, however long the task took (no guessed delay)
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toEqual([]);
  });

  it('returns a failed output with nothrow, and runs in the current folder of the call unless told', async () => {
    const out = localSync({ nothrow: true })`exit 2`;
    expect([out.ok, out.exitCode]).toEqual([false, 2]);
    const dir = mkdtempSync(`${tmpdir()}/local-`);
    const here = process.cwd();
    try {
      expect((await local({ cwd: dir })`pwd`).stdout.trim()).toBe(dir);
      process.chdir(dir);
      expect(localSync()`pwd`.stdout.trim()).toBe(dir);
    } finally {
      process.chdir(here);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
