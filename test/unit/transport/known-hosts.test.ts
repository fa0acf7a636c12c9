import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  formatKnownHostsLine,
  hostKeyAlgorithms,
  hostKeyName,
  keyType,
  parseKnownHosts,
  recordedKeyTypes,
} from '../../../src/transport/known-hosts.ts';

let dir: string;

interface TestKey {
  blob: Buffer;
  base64: string;
  type: string;
  pubFile: string;
}

function generateKey(name: string, type: 'ed25519' | 'ecdsa' | 'rsa'): TestKey {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `test ${name}`, '-f', file]);
  const [keyTypeField, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  return { blob: Buffer.from(base64, 'base64'), base64, type: keyTypeField, pubFile: `${file}.pub` };
}

function sshKeygen(args: string[]): string {
  return execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

let ed1: TestKey;
let ed2: TestKey;
let ecdsa: TestKey;
let rsa: TestKey;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailprov-known-hosts-'));
  ed1 = generateKey('ed1', 'ed25519');
  ed2 = generateKey('ed2', 'ed25519');
  ecdsa = generateKey('ec', 'ecdsa');
  rsa = generateKey('rsa', 'rsa');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('hostKeyName', () => {
  it('uses the bare host on port 22 and [host]:port otherwise', () => {
    expect(hostKeyName('relay.example.com', 22)).toBe('relay.example.com');
    expect(hostKeyName('127.0.0.1', 2201)).toBe('[127.0.0.1]:2201');
    expect(hostKeyName('::1', 2222)).toBe('[::1]:2222');
  });

  it('lowercases, as ssh does before lookup and hashing', () => {
    expect(hostKeyName('Relay.Example.COM', 22)).toBe('relay.example.com');
  });
});

describe('fingerprint and keyType', () => {
  it('prints the same fingerprint as ssh-keygen -l -E sha256', () => {
    for (const key of [ed1, ed2, ecdsa]) {
      const printed = sshKeygen(['-l', '-E', 'sha256', '-f', key.pubFile]).split(' ')[1];
      expect(fingerprint(key.blob)).toBe(printed);
      expect(fingerprint(key.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    }
  });

  it('reads the type name from the key blob', () => {
    expect(keyType(ed1.blob)).toBe('ssh-ed25519');
    expect(keyType(ecdsa.blob)).toBe('ecdsa-sha2-nistp256');
    expect(ecdsa.type).toBe('ecdsa-sha2-nistp256');
  });

  it('rejects something that is not a key blob', () => {
    expect(() => keyType(Buffer.alloc(2))).toThrow(/not an SSH public key/);
    expect(() => keyType(Buffer.from([0, 0, 0, 99, 0x61]))).toThrow(/not an SSH public key/);
    expect(() => keyType(Buffer.from([0, 0, 0, 0]))).toThrow(/not an SSH public key/);
  });
});

describe('parseKnownHosts', () => {
  it('skips comments, blank lines and garbage, and keeps line numbers', () => {
    const text = [
      '# a comment',
      '',
      '   ',
      `relay1,10.0.0.5 ${ed1.type} ${ed1.base64} some comment here`,
      'not a known hosts line',
      `broken ssh-ed25519 !!!notbase64`,
      `mismatched-type ssh-rsa ${ed1.base64}`,
      `\t[127.0.0.1]:2201\t${ecdsa.type}\t${ecdsa.base64}`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      line: 4,
      revoked: false,
      patterns: ['relay1', '10.0.0.5'],
      keyType: 'ssh-ed25519',
      comment: 'some comment here',
    });
    expect(entries[0].key.equals(ed1.blob)).toBe(true);
    expect(entries[1]).toMatchObject({ line: 8, patterns: ['[127.0.0.1]:2201'], keyType: 'ecdsa-sha2-nistp256' });
  });

  it('accepts CRLF line endings', () => {
    const entries = parseKnownHosts(`a ${ed1.type} ${ed1.base64}\r\nb ${ed2.type} ${ed2.base64}\r\n`);
    expect(entries.map((e) => e.patterns[0])).toEqual(['a', 'b']);
  });

  it('keeps @revoked lines and ignores @cert-authority and unknown markers', () => {
    const entries = parseKnownHosts(
      [
        `@revoked * ${ed1.type} ${ed1.base64}`,
        `@cert-authority *.example.com ${ed2.type} ${ed2.base64}`,
        `@bogus relay1 ${ed2.type} ${ed2.base64}`,
      ].join('\n'),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ revoked: true, patterns: ['*'] });
  });
});

describe('checkHostKey', () => {
  it('matches a plain entry among comma-separated patterns', () => {
    const entries = parseKnownHosts(`relay1,10.0.0.5 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, '10.0.0.5', 22, ed1.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, 'RELAY1', 22, ed1.blob)).toEqual({ status: 'match' });
  });

  it('treats the port as part of the name: [host]:port', () => {
    const entries = parseKnownHosts(`[127.0.0.1]:2201 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, '127.0.0.1', 2201, ed1.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, '127.0.0.1', 22, ed1.blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, '127.0.0.1', 2202, ed1.blob)).toEqual({ status: 'unknown' });
  });

  it('reports a changed key of the same type as a mismatch naming the recorded fingerprint', () => {
    const entries = parseKnownHosts(`relay1 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, 'relay1', 22, ed2.blob)).toEqual({
      status: 'mismatch',
      expected: [fingerprint(ed1.blob)],
    });
  });

  it('is unknown when only keys of another type are recorded', () => {
    const entries = parseKnownHosts(`relay1 ${ecdsa.type} ${ecdsa.base64}`);
    expect(checkHostKey(entries, 'relay1', 22, ed1.blob)).toEqual({ status: 'unknown' });
  });

  it('matches when one of several keys of the same type is the presented one', () => {
    const entries = parseKnownHosts([`relay1 ${ed2.type} ${ed2.base64}`, `relay1 ${ed1.type} ${ed1.base64}`].join('\n'));
    expect(checkHostKey(entries, 'relay1', 22, ed1.blob)).toEqual({ status: 'match' });
  });

  it('is unknown for a host with no entry', () => {
    const entries = parseKnownHosts(`relay1 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, 'relay2', 22, ed1.blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey([], 'relay1', 22, ed1.blob)).toEqual({ status: 'unknown' });
  });

  it('refuses a revoked key even if it is also recorded as good', () => {
    const entries = parseKnownHosts([`relay1 ${ed1.type} ${ed1.base64}`, `@revoked * ${ed1.type} ${ed1.base64}`].join('\n'));
    expect(checkHostKey(entries, 'relay1', 22, ed1.blob)).toEqual({ status: 'revoked' });
    expect(checkHostKey(entries, 'other', 2222, ed1.blob)).toEqual({ status: 'revoked' });
    // a revoked key does not count as a recorded key for other keys
    expect(checkHostKey(entries, 'other', 22, ed2.blob)).toEqual({ status: 'unknown' });
  });

  it('supports * and ? wildcards and ! negation', () => {
    const entries = parseKnownHosts(`*.example.com,!bad.example.com,relay? ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, 'mx.example.com', 22, ed1.blob).status).toBe('match');
    expect(checkHostKey(entries, 'relay7', 22, ed1.blob).status).toBe('match');
    expect(checkHostKey(entries, 'relay10', 22, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(entries, 'bad.example.com', 22, ed1.blob).status).toBe('unknown');
    expect(checkHostKey(entries, 'example.com', 22, ed1.blob).status).toBe('unknown');
    // the dot is literal, not a regular expression wildcard
    expect(checkHostKey(entries, 'mxXexampleYcom', 22, ed1.blob).status).toBe('unknown');
  });

  it('a line with only negations matches nothing', () => {
    const entries = parseKnownHosts(`!relay1 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, 'relay2', 22, ed1.blob).status).toBe('unknown');
  });

  it('wildcards can cover [host]:port names', () => {
    const entries = parseKnownHosts(`[10.0.0.*]:2222 ${ed1.type} ${ed1.base64}`);
    expect(checkHostKey(entries, '10.0.0.9', 2222, ed1.blob).status).toBe('match');
    expect(checkHostKey(entries, '10.0.0.9', 22, ed1.blob).status).toBe('unknown');
  });

  it('matches entries hashed by ssh-keygen -H', () => {
    const file = join(dir, 'hashed_known_hosts');
    writeFileSync(
      file,
      [
        `relay.example.com ${ed1.type} ${ed1.base64}`,
        `[127.0.0.1]:2201 ${ed2.type} ${ed2.base64}`,
        `10.0.0.5 ${ecdsa.type} ${ecdsa.base64}`,
        '',
      ].join('\n'),
    );
    sshKeygen(['-q', '-H', '-f', file]);
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(entries).toHaveLength(3);
    for (const e of entries) {
      expect(e.hashed).toBeDefined();
      expect(e.patterns).toEqual([]);
    }
    expect(checkHostKey(entries, 'relay.example.com', 22, ed1.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, 'Relay.Example.com', 22, ed1.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, '127.0.0.1', 2201, ed2.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, '10.0.0.5', 22, ecdsa.blob)).toEqual({ status: 'match' });
    expect(checkHostKey(entries, '127.0.0.1', 22, ed2.blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, 'other.example.com', 22, ed1.blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, '127.0.0.1', 2201, ed1.blob)).toEqual({ status: 'mismatch', expected: [fingerprint(ed2.blob)] });
  });

  it('ignores malformed hashed host fields', () => {
    const entries = parseKnownHosts(`|1|c2hvcnQ=|c2hvcnQ= ${ed1.type} ${ed1.base64}\n|2|x|y ${ed1.type} ${ed1.base64}`);
    expect(entries).toEqual([]);
  });
});

describe('recordedKeyTypes', () => {
  it('lists the types recorded for this host and port only, once each, leaving out @revoked lines', () => {
    const entries = parseKnownHosts(
      [
        `[127.0.0.1]:2201 ${ed1.type} ${ed1.base64}`,
        `[127.0.0.1]:2201,relay1 ${rsa.type} ${rsa.base64}`,
        `[127.0.0.1]:2201 ${ed2.type} ${ed2.base64}`,
        `@revoked [127.0.0.1]:2201 ${ecdsa.type} ${ecdsa.base64}`,
        `[127.0.0.1]:2202 ${ecdsa.type} ${ecdsa.base64}`,
      ].join('\n'),
    );
    expect(recordedKeyTypes(entries, '127.0.0.1', 2201)).toEqual(['ssh-ed25519', 'ssh-rsa']);
    expect(recordedKeyTypes(entries, '127.0.0.1', 2202)).toEqual(['ecdsa-sha2-nistp256']);
    expect(recordedKeyTypes(entries, '127.0.0.1', 22)).toEqual([]);
  });

  it('reads hashed entries too', () => {
    const file = join(dir, 'hashed_types');
    writeFileSync(file, `[127.0.0.1]:2201 ${ecdsa.type} ${ecdsa.base64}\n`);
    sshKeygen(['-q', '-H', '-f', file]);
    expect(recordedKeyTypes(parseKnownHosts(readFileSync(file, 'utf8')), '127.0.0.1', 2201)).toEqual(['ecdsa-sha2-nistp256']);
  });
});

describe('hostKeyAlgorithms', () => {
  it('offers only the algorithms that present a recorded key type', () => {
    expect(hostKeyAlgorithms(['ssh-ed25519'])).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms(['ecdsa-sha2-nistp384'])).toEqual(['ecdsa-sha2-nistp384']);
    expect(hostKeyAlgorithms(['ssh-dss'])).toEqual(['ssh-dss']);
  });

  it('maps an RSA key to its three signature algorithms, strongest first', () => {
    expect(hostKeyAlgorithms(['ssh-rsa'])).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it("keeps ssh2's order of preference, whatever the file's order", () => {
    expect(hostKeyAlgorithms(['ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519'])).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
  });

  it('drops types ssh2 cannot negotiate (security keys, certificates)', () => {
    expect(hostKeyAlgorithms(['sk-ssh-ed25519@openssh.com', 'ssh-ed25519-cert-v01@openssh.com'])).toEqual([]);
    expect(hostKeyAlgorithms([])).toEqual([]);
  });
});

describe('formatKnownHostsLine', () => {
  it('writes a plain line that parses back and that ssh-keygen -F finds', () => {
    const line = formatKnownHostsLine('127.0.0.1', 2201, ed1.blob);
    expect(line).toBe(`[127.0.0.1]:2201 ssh-ed25519 ${ed1.base64}`);
    expect(formatKnownHostsLine('relay1', 22, ecdsa.blob)).toBe(`relay1 ecdsa-sha2-nistp256 ${ecdsa.base64}`);

    const file = join(dir, 'formatted_known_hosts');
    writeFileSync(file, line + '\n');
    expect(checkHostKey(parseKnownHosts(readFileSync(file, 'utf8')), '127.0.0.1', 2201, ed1.blob).status).toBe('match');
    expect(sshKeygen(['-F', '[127.0.0.1]:2201', '-f', file])).toContain(ed1.base64);
  });
});

describe('appendKnownHost', () => {
  it('creates the directory (0700) and file (0600) when missing', async () => {
    const file = join(dir, 'fresh', 'ssh', 'known_hosts');
    await appendKnownHost(file, formatKnownHostsLine('relay1', 22, ed1.blob));
    expect(readFileSync(file, 'utf8')).toBe(`relay1 ssh-ed25519 ${ed1.base64}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'fresh', 'ssh')).mode & 0o777).toBe(0o700);
  });

  it('appends after existing lines, adding the missing trailing newline first', async () => {
    const file = join(dir, 'no_trailing_newline');
    writeFileSync(file, `relay1 ${ed1.type} ${ed1.base64}`);
    await appendKnownHost(file, formatKnownHostsLine('relay2', 2222, ed2.blob) + '\n');
    await appendKnownHost(file, formatKnownHostsLine('relay3', 22, ecdsa.blob));
    expect(readFileSync(file, 'utf8')).toBe(
      `relay1 ${ed1.type} ${ed1.base64}\n[relay2]:2222 ${ed2.type} ${ed2.base64}\nrelay3 ${ecdsa.type} ${ecdsa.base64}\n`,
    );
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(checkHostKey(entries, 'relay2', 2222, ed2.blob).status).toBe('match');
  });

  it('appends to an empty file without a blank first line', async () => {
    const file = join(dir, 'empty_known_hosts');
    writeFileSync(file, '');
    await appendKnownHost(file, 'relay1 ssh-ed25519 AAAA');
    expect(readFileSync(file, 'utf8')).toBe('relay1 ssh-ed25519 AAAA\n');
  });

  it('refuses a line that would smuggle in a second entry', async () => {
    const file = join(dir, 'smuggle');
    await expect(appendKnownHost(file, `a ${ed1.type} ${ed1.base64}\n* ${ed2.type} ${ed2.base64}`)).rejects.toThrow(/line break/);
  });
});
