// The sandbox folder and its state files are root's alone (the user running mailprov), 0700 and 0600,
// checked before every use: refused otherwise, naming the path, its owner and mode.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { checkSandboxFolder } from '../../../src/sandbox/ownership.ts';

const top = mkdtempSync(join(tmpdir(), 'mailprov-own-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
const uid = process.getuid!();
const who = `uid ${uid}${uid === 0 ? ' (root)' : ''}`;
let n = 0;
const folder = (mode = 0o700) => {
  const dir = join(top, `s${n++}`);
  mkdirSync(dir);
  chmodSync(dir, mode);
  return dir;
};

describe('checkSandboxFolder', () => {
  it('accepts a folder of ours, 0700, with state files 0600; says when there is none', () => {
    const dir = folder();
    writeFileSync(join(dir, 'state.json'), '{}', { mode: 0o600 });
    writeFileSync(join(dir, 'processes.jsonl'), '', { mode: 0o600 });
    expect(checkSandboxFolder(dir)).toBe('present');
    expect(checkSandboxFolder(join(top, 'absent'))).toBe('absent');
  });

  it('refuses a folder others may read or write, naming its path, owner and mode', () => {
    const dir = folder(0o755);
    expect(() => checkSandboxFolder(dir)).toThrow(SandboxError);
    expect(() => checkSandboxFolder(dir)).toThrow(
      `${dir} (owner ${who}, mode 0755): mode 0755 lets others read or change it: refusing to use it as a sandbox folder`,
    );
  });

  it('refuses a symbolic link, and state files that are links or others may change', () => {
    const dir = folder();
    const link = join(top, `link${n++}`);
    symlinkSync(dir, link);
    expect(() => checkSandboxFolder(link)).toThrow(`${link} (owner ${who}, mode 0777): a symbolic link`);
    writeFileSync(join(dir, 'state.json'), '{}', { mode: 0o644 });
    expect(() => checkSandboxFolder(dir)).toThrow(
      `${dir}/state.json (owner ${who}, mode 0644): mode 0644 lets others read or change it: refusing to read it`,
    );
    chmodSync(join(dir, 'state.json'), 0o600);
    symlinkSync('/etc/passwd', join(dir, 'processes.jsonl'));
    expect(() => checkSandboxFolder(dir)).toThrow(`${dir}/processes.jsonl (owner ${who}, mode 0777): a symbolic link`);
  });

  it('refuses a folder, present or to be made, in a parent anyone may write without the sticky bit', () => {
    const open = folder(0o777);
    chmodSync(open, 0o777);
    expect(() => checkSandboxFolder(join(open, 'sandbox'))).toThrow(
      `${open}/sandbox: its folder ${open} (owner ${who}, mode 0777) lets others replace it`,
    );
    chmodSync(open, 0o1777); // as /tmp: others cannot rename what is ours
    expect(checkSandboxFolder(join(open, 'sandbox'))).toBe('absent');
  });
});
