// A long password wherever it sits inside base64 text: masked at each of the three alignments
// (base64Runs). In a file of its own: the registry is process-wide, and the one- and
// two-character passwords of the other tests would mask single characters of the text here.
import { describe, expect, it } from 'vitest';
import { MASK, redact, registerSecret } from '../../../src/secrets/index.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('a long password inside base64 text nobody foresaw', () => {
  // char i of base64 carries bits [6i, 6i + 6) of the bytes: those inside the password's bits are its own
  it('is masked at every alignment, leaving only characters that mix in a neighbouring byte', () => {
    const password = 'k3r9v0mqz2hd';
    registerSecret(password);
    for (let before = 0; before <= 5; before++) {
      for (let after = 0; after <= 3; after++) {
        const prefix = 'x'.repeat(before);
        const text = b64(`${prefix}${password}${'y'.repeat(after)}`);
        const redacted = redact(text);
        const at = redacted.indexOf(MASK);
        expect(at, `${before} bytes before, ${after} after`).toBeGreaterThanOrEqual(0);
        const [left, right] = [redacted.slice(0, at), redacted.slice(at + MASK.length)];
        const firstOwn = Math.ceil((8 * before) / 6);
        const endOwn = Math.floor((8 * (before + 12)) / 6);
        expect(left.length).toBeLessThanOrEqual(firstOwn);
        expect(right.length).toBeLessThanOrEqual(text.length - endOwn);
      }
    }
  });
});
