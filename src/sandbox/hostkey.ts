// A host's ed25519 key pair in OpenSSH's own file formats, made in this process: what `ssh-keygen -t
// ed25519 -N ''` writes, without a process per host (at 1,000 hosts, ssh-keygen through a shell was
// most of `sandbox up`'s time before any host started).
//
// The private key file (PROTOCOL.key in OpenSSH's sources): "openssh-key-v1\0", cipher and kdf
// "none", one key: its public blob, then the private section (a check number twice, the key type,
// the public key, the 64-byte private key = seed + public key, the comment, padding 1, 2, 3, ... to 8).
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

const str = (b: Buffer | string) => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export interface OpenSshKeyPair {
  /** The private key file's text (mode 600) */
  privateKey: string;
  /** The .pub file's line: "ssh-ed25519 AAAA... comment" */
  publicKey: string;
}

/** An ed25519 key pair from a 32-byte seed (random unless given: a test's fixed key). */
export function ed25519KeyPair(comment: string, seed?: Buffer, checkInt = randomBytes(4).readUInt32BE()): OpenSshKeyPair {
  const privateKey = seed ? ed25519FromSeed(seed) : generateKeyPairSync('ed25519').privateKey;
  const jwk = privateKey.export({ format: 'jwk' }) as { d: string; x: string };
  const priv = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  const blob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  let section = Buffer.concat([u32(checkInt), u32(checkInt), str('ssh-ed25519'), str(pub), str(Buffer.concat([priv, pub])), str(comment)]);
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(blob), str(section)]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${blob.toString('base64')} ${comment}\n`,
  };
}

function ed25519FromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new Error('an ed25519 seed is 32 bytes');
  // PKCS#8 for ed25519: a fixed prefix, then the seed
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}
