// mailprov loads two files of ssh2 rather than its index (src/transport/ssh2.ts, for the start
// time): they must be the very client and key parser the package exports, not the fallback.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Client, parseKey } from '../../../src/transport/ssh2.ts';

const require = createRequire(import.meta.url);

describe("ssh2's parts, loaded on their own", () => {
  it('are the Client and parseKey that ssh2 itself exports', () => {
    const whole = require('ssh2');
    expect(Client).toBe(whole.Client);
    expect(parseKey).toBe(whole.utils.parseKey);
  });

  it('come from their own files (the fallback to the whole package is not what runs)', () => {
    expect(require.cache[require.resolve('ssh2/lib/client.js')]?.exports).toBe(Client);
    expect(require.cache[require.resolve('ssh2/lib/protocol/keyParser.js')]?.exports.parseKey).toBe(parseKey);
  });
});
