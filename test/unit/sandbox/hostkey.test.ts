// Host keys made in-process must be what ssh-keygen would read and write.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../../../src/sandbox/hostkey.ts';

// RFC 8032's first test vector: this seed has this public key
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const PUB = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');

describe('ed25519KeyPair', () => {
  it('writes the public key as OpenSSH does: type, blob, comment', () => {
    const { publicKey } = ed25519KeyPair('relay1.sandbox.test', SEED, 0x01020304);
    const [type, b64, comment] = publicKey.trim().split(' ');
    expect([type, comment]).toEqual(['ssh-ed25519', 'relay1.sandbox.test']);
    const blob = Buffer.from(b64, 'base64');
    expect(blob.subarray(4, 15).toString()).toBe('ssh-ed25519');
    expect(blob.subarray(19)).toEqual(PUB);
  });

  it('writes a private key file that ssh-keygen reads back to the same public key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-hostkey-'));
    try {
      const pair = ed25519KeyPair('relay7.sandbox.test');
      const file = join(dir, 'ssh_host_ed25519_key');
      writeFileSync(file, pair.privateKey, { mode: 0o600 });
      expect(pair.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n$/);
      const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' });
      expect(derived.trim()).toBe(pair.publicKey.trim());
      // and no two hosts share a key
      expect(ed25519KeyPair('x').publicKey).not.toBe(ed25519KeyPair('x').publicKey);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
