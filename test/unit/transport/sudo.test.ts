import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { wrapCommand } from '../../../src/transport/ssh.ts';
import { announceStart, SudoStderr, sudoRefusal, sudoWords, type SudoEvent } from '../../../src/transport/sudo.ts';

const words = { prompt: '[mailprov-sudo-abc123] ', marker: 'mailprov-started-abc123' };
const where = { user: 'deploy2', host: '127.0.0.1:2201' };

/** Feeds the chunks and returns the events, with stderr data as text. */
function run(parser: SudoStderr, chunks: string[]): Array<string> {
  const show = (e: SudoEvent) => (e.kind === 'stderr' ? `stderr:${e.data.toString()}` : e.kind);
  return chunks.flatMap((c) => parser.feed(Buffer.from(c)).map(show));
}

/** Every way of cutting the text in two. */
const cuts = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('sudoWords', () => {
  it('are fresh each time and free of the %-escapes sudo expands in a prompt', () => {
    const a = sudoWords();
    const b = sudoWords();
    expect(a.prompt).not.toBe(b.prompt);
    expect(a.marker).not.toBe(b.marker);
    expect(a.prompt).not.toContain('%');
  });
});

describe('announceStart', () => {
  it('prints the marker and a newline on stderr under dash, without the marker on the command line', () => {
    const text = announceStart(words);
    expect(text).not.toContain(words.marker);
    const r = spawnSync('/bin/sh', ['-c', text], { encoding: 'utf8' });
    expect(r.stderr).toBe(`${words.marker}\n`);
    expect(r.stdout).toBe('');
  });
});

describe('wrapCommand', () => {
  const target = { sudo: true, sudoPassword: 'hunter2 secret' };

  it('asks sudo for our prompt, never puts the password on the command line, and announces the start first', () => {
    const w = sudoWords();
    const cmd = wrapCommand('cat > /tmp/x', target, w);
    expect(cmd).toMatch(/^sudo -S -p '\[mailprov-sudo-[0-9a-f]+\] ' -- \/bin\/sh -c /);
    expect(cmd).not.toContain('hunter2');
    // the wrapped shell (run here without sudo) prints the marker before the command runs
    const inner = cmd.replace(/^sudo .*? -- /, '');
    const r = spawnSync('/bin/sh', ['-c', inner.replace('cat > /tmp/x', 'cat; echo oops >&2')], { encoding: 'utf8', input: 'content\n' });
    expect(r.stderr).toBe(`${w.marker}\noops\n`);
    expect(r.stdout).toBe('content\n');
  });

  it('uses sudo -n without a password, and plain sh without sudo', () => {
    expect(wrapCommand('true', { sudo: true }, sudoWords())).toMatch(/^sudo -n -- \/bin\/sh -c /);
    expect(wrapCommand('true', { sudo: false })).toMatch(/^\/bin\/sh -c /);
    expect(execFileSync('/bin/sh', ['-c', wrapCommand('echo "$PATH"', { sudo: false })], { encoding: 'utf8' })).toMatch(/\/usr\/sbin/);
  });
});

describe('SudoStderr', () => {
  it('starts at once when sudo does not ask (NOPASSWD)', () => {
    const p = new SudoStderr(words);
    expect(run(p, [`${words.marker}\n`])).toEqual(['started']);
    expect(p.prompts).toBe(0);
    expect(p.started).toBe(true);
  });

  it('asks for the password once, then starts', () => {
    const p = new SudoStderr(words);
    expect(run(p, [words.prompt])).toEqual(['prompt']);
    expect(run(p, [`\n${words.marker}\n`])).toEqual(['started']);
    expect(p.prompts).toBe(1);
  });

  it("passes on the command's stderr after the marker, the rest of the marker's chunk included", () => {
    const p = new SudoStderr(words);
    expect(run(p, [`${words.marker}\nwarning: x\n`, 'more\n'])).toEqual(['started', 'stderr:warning: x\n', 'stderr:more\n']);
  });

  it('finds a prompt and a marker cut anywhere', () => {
    for (const [a, b] of cuts(`${words.prompt}`)) {
      const p = new SudoStderr(words);
      expect(run(p, [a, b])).toEqual(['prompt']);
    }
    for (const [a, b] of cuts(`${words.marker}\nerr`)) {
      const p = new SudoStderr(words);
      const events = run(p, [a, b]);
      expect(events[0]).toBe('started');
      expect(
        events
          .slice(1)
          .map((e) => e.replace('stderr:', ''))
          .join(''),
      ).toBe('err');
    }
  });

  it('reports a second prompt as a refused password, and keeps what sudo said', () => {
    const p = new SudoStderr(words);
    expect(run(p, [words.prompt, `\nSorry, try again.\n${words.prompt}`])).toEqual(['prompt', 'prompt-again']);
    expect(p.sudoSaid).toBe('\nSorry, try again.\n');
    expect(p.started).toBe(false);
  });

  it('keeps sudo messages (without prompts) when the command never starts', () => {
    const p = new SudoStderr(words);
    expect(run(p, ['sudo: sorry, you must have a tty to run sudo\n'])).toEqual([]);
    expect(p.sudoSaid).toBe('sudo: sorry, you must have a tty to run sudo\n');
  });

  it('does not take the marker without its newline, nor text before it, for the start', () => {
    const p = new SudoStderr(words);
    expect(run(p, [`x${words.marker}`])).toEqual([]);
    expect(p.started).toBe(false);
    expect(run(p, ['\n'])).toEqual(['started']);
    expect(p.sudoSaid).toBe('x');
  });
});

describe('sudoRefusal', () => {
  it('names the user and host for a refused password', () => {
    expect(sudoRefusal('Sorry, try again.\n', true, where)).toBe('sudo refused the password for user deploy2 on host 127.0.0.1:2201');
    expect(sudoRefusal('sudo: 1 incorrect password attempt\n', true, where)).toMatch(/^sudo refused the password/);
  });

  it('explains requiretty and what to do about it', () => {
    const m = sudoRefusal('sudo: sorry, you must have a tty to run sudo\n', false, where);
    expect(m).toMatch(/requiretty/);
    expect(m).toMatch(/for user deploy2 on host 127\.0\.0\.1:2201/);
    expect(m).toMatch(/Defaults:deploy2 !requiretty|connect as root/);
  });

  it('says when a password is needed but none is configured', () => {
    expect(sudoRefusal('sudo: a password is required\n', false, where)).toMatch(/needs a password .* none is configured/);
  });

  it("quotes sudo's own words otherwise", () => {
    expect(sudoRefusal('deploy2 is not in the sudoers file.\n', false, where)).toBe(
      'sudo did not run the command for user deploy2 on host 127.0.0.1:2201: deploy2 is not in the sudoers file.',
    );
  });
});
