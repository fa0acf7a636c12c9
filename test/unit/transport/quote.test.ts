import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sh, shellJoin, shellQuote } from '../../../src/transport/quote.ts';

// A seeded generator (mulberry32), so a failure with the "random" string is reproducible.
function randomString(length: number, seed: number): string {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const special = [...'\'"`$\\!*?~#;&|<>(){}[] \t\n\r%-='];
  const extra = ['é', 'ß', '€', '漢', '字', '🙂', '\u00a0', '\u200b'];
  let out = '';
  while (out.length < length) {
    const r = next();
    // every ASCII byte except NUL (which no argv can carry), shell metacharacters more often, some multi-byte
    if (r < 0.5) out += String.fromCharCode(1 + Math.floor(next() * 127));
    else if (r < 0.85) out += special[Math.floor(next() * special.length)];
    else out += extra[Math.floor(next() * extra.length)];
  }
  return out.slice(0, length).replace(/[\ud800-\udbff]$/, 'x'); // never cut a surrogate pair
}

const hostile: [string, string][] = [
  ['empty', ''],
  ['single quote', "'"],
  ['quote dance', `'"'"'`],
  ['two single quotes', "''"],
  ['double quote', '"'],
  ['command substitution', '$(id)'],
  ['backticks', '`id`'],
  ['variable', '$HOME ${HOME} $1 $@ $$'],
  ['newline', 'a\nb'],
  ['trailing newlines', 'a\n\n'],
  ['carriage return and tab', 'a\r\tb'],
  ['backslash', '\\'],
  ['backslash escapes', '\\n\\t\\\\\\c'],
  ['glob', '*'],
  ['glob chars', '[a-z]? *.conf'],
  ['tilde', '~'],
  ['tilde path', '~root/x'],
  ['spaced', ' spaced  '],
  ['option', '-n'],
  ['double dash', '--'],
  ['printf format', '%s'],
  ['printf format with escapes', '%b %d %% \\0101'],
  ['history expansion', '!'],
  ['history expansion word', '!!:$ !-1'],
  ['operators', 'a;b|c&d>e<f'],
  ['braces', '{a,b} {1..3}'],
  ['assignment', 'FOO=bar'],
  ['comment', '# not a comment'],
  ['unicode', 'héllo wörld 漢字 🙂'],
  ['control bytes', '\x01\x1b[31m\x7f'],
  ['random 300 chars', randomString(300, 42)],
];

function runIn(shell: string, script: string): Buffer {
  return execFileSync(shell, ['-c', script], { env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
}

describe('shellQuote', () => {
  it('wraps in single quotes and escapes only the single quote', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('abc')).toBe("'abc'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('-n')).toBe("'-n'");
  });

  it("never uses $'...' quoting", () => {
    for (const [, value] of hostile) expect(shellQuote(value)).not.toMatch(/^\$'/);
  });

  it('refuses a NUL byte, which no shell word can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('the random string really is hostile', () => {
    const value = hostile.find(([name]) => name === 'random 300 chars')![1];
    expect(value).toHaveLength(300);
    expect(value).toMatch(/'/);
    expect(value).toMatch(/\n/);
  });

  for (const shell of ['/bin/dash', '/bin/bash']) {
    describe(`round-trips through ${shell}`, () => {
      it.each(hostile)('%s', (_name, value) => {
        const out = runIn(shell, 'printf %s ' + shellQuote(value));
        expect(out.equals(Buffer.from(value))).toBe(true);
        expect(out.toString('utf8')).toBe(value);
      });

      it('keeps each value one word', () => {
        const values = hostile.map(([, v]) => v);
        const out = runIn(shell, `printf '%s\\0' ${shellJoin(values)}`);
        expect(out.toString('utf8')).toBe(values.map((v) => v + '\0').join(''));
      });
    });
  }

  // History expansion needs history on (set -o history) and an earlier line to expand to; bash -c
  // reads its script line by line, so the second line can name the first. The control proves the
  // setup expands: the same value in double quotes comes out changed, so a wrong quote would fail.
  describe('with history expansion live in bash', () => {
    const value = '!! !$ !-1 !echo';
    const run = (word: string) =>
      execFileSync('/bin/bash', ['-c', `set -o history -H\necho previous\nprintf %s ${word}`], { env: { PATH: '/usr/bin:/bin' } }).toString(
        'utf8',
      );

    it('expands an unprotected value (control)', () => {
      expect(run(`"${value}"`)).toBe('previous\necho previous previous echo previous echo previous');
    });

    it('keeps a quoted value as it is', () => {
      expect(run(shellQuote(value))).toBe(`previous\n${value}`);
    });
  });
});

describe('shellJoin', () => {
  it('quotes each argument and joins with single spaces', () => {
    expect(shellJoin(['ls', '-l', 'a b', ''])).toBe("'ls' '-l' 'a b' ''");
    expect(shellJoin([])).toBe('');
  });
});

describe('sh', () => {
  it('quotes every interpolated value and leaves the literal text alone', () => {
    const owner = 'root';
    const group = 'smmsp';
    const path = '/etc/mail/a b';
    expect(sh`chown ${owner}:${group} ${path}`).toBe(`chown 'root':'smmsp' '/etc/mail/a b'`);
  });

  it('turns arrays into several quoted words and numbers into quoted strings', () => {
    expect(sh`rm -f -- ${['a', "b'c"]}`).toBe(`rm -f -- 'a' 'b'\\''c'`);
    expect(sh`chmod ${'0640'} ${['x']} && sleep ${1}`).toBe(`chmod '0640' 'x' && sleep '1'`);
    expect(sh`true ${[]}`).toBe('true ');
  });

  it('refuses undefined, null and objects', () => {
    expect(() => sh`echo ${undefined as unknown as string}`).toThrow(TypeError);
    expect(() => sh`echo ${null as unknown as string}`).toThrow(/null/);
    expect(() => sh`echo ${{} as unknown as string}`).toThrow(TypeError);
    expect(() => sh`echo ${NaN}`).toThrow(TypeError);
  });

  it('produces commands dash executes with the values intact', () => {
    const values = hostile.map(([, v]) => v);
    const out = runIn('/bin/dash', sh`printf '%s\\0' ${values} ${'$(id)'}`);
    expect(out.toString('utf8')).toBe([...values, '$(id)'].map((v) => v + '\0').join(''));
  });

  it('composes: a quoted command quoted again survives two shells', () => {
    const inner = sh`printf %s ${"it's $(id)"}`;
    const out = runIn('/bin/dash', sh`/bin/sh -c ${inner}`);
    expect(out.toString('utf8')).toBe("it's $(id)");
  });
});
