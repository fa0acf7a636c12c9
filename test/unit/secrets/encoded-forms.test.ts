// The password in every encoded form the probe or sendmail puts on the wire (and `sendmail -v`
// prints): AUTH PLAIN's base64 of "authzid NUL user NUL password", AUTH LOGIN's base64 password
// line, authinfo's "P=" base64. base64 of a value inside a longer string depends on where it
// starts (mod 3), so these are masked as the whole strings that go out, for any length of user
// and password, and a long password also wherever it sits in base64 text nobody foresaw.
import { describe, expect, it } from 'vitest';
import { maskAuthinfo, renderAuthinfo } from '../../../playbooks/sendmail-smarthost/render.ts';
import { sendmailSettingsSchema } from '../../../playbooks/sendmail-smarthost/settings.ts';
import { MASK, redact, registerSaslSecret, secret } from '../../../src/secrets/index.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

// Unrelated values per case (the registry is process-wide, and one case's password inside another's
// would mask part of it first): pseudo-random, seeded, of lower-case letters and digits only, so that
// a one-character password masks no character of the fixed text around the forms.
let seed = 12345;
const ALPHABET = 'bcdfghjkmnpqrstvwxyz0123456789';
function value(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    s += ALPHABET[Math.floor(seed / 65536) % ALPHABET.length];
  }
  return s;
}

/** What goes out for these credentials, by who sends it. */
function emitted(user: string, password: string): [string, string][] {
  return [
    ['probe: AUTH PLAIN without authorization id', b64(`\0${user}\0${password}`)],
    // authinfo has I: equal to U:, and Cyrus SASL's PLAIN puts a non-empty I: in front
    ['sendmail: AUTH PLAIN with the user as authorization id', b64(`${user}\0${user}\0${password}`)],
    ['probe and sendmail: AUTH LOGIN password line', b64(password)],
  ];
}

const USER_LENGTHS = [1, 2, 3, 4, 5, 6];
const PASSWORD_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 13, 20];

describe('the AUTH payloads of a smart-host password', () => {
  it.each(USER_LENGTHS)(
    'are masked whole for a user of %i characters and passwords of 1 to 20, once the settings reveal it',
    (userLength) => {
      for (const passwordLength of PASSWORD_LENGTHS) {
        const user = `${value(userLength - 1)}@`.slice(-userLength);
        const password = value(passwordLength);
        const settings = sendmailSettingsSchema.parse({ smartHost: 'smtp.example.org', auth: { user, password: secret.value(password) } });
        // revealed as the probe and authinfo reveal it: nothing else registers anything
        expect(settings.auth!.password.reveal()).toBe(password);
        for (const [who, form] of emitted(user, password)) {
          expect(redact(`>>> AUTH PLAIN ${form}\n`), `${who}, user ${JSON.stringify(user)}, password of ${passwordLength}`).toBe(
            `>>> AUTH PLAIN ${MASK}\n`,
          );
        }
      }
    },
  );

  it('are masked whole with another authorization id as well', () => {
    for (const [userLength, passwordLength, authzidLength] of [
      [1, 1, 1],
      [2, 2, 2],
      [1, 2, 3],
      [4, 1, 5],
      [3, 13, 2],
    ]) {
      const [user, password, authzid] = [value(userLength), value(passwordLength), value(authzidLength)];
      registerSaslSecret(user, password, [authzid]);
      for (const form of [b64(`${authzid}\0${user}\0${password}`), ...emitted(user, password).map(([, f]) => f)])
        expect(redact(`C: ${form}`)).toBe(`C: ${MASK}`);
    }
  });

  it('are registered when the password is revealed, whichever comes first', () => {
    const [user, password] = [value(3), value(2)];
    const s = secret.value(password);
    s.reveal();
    expect(redact(b64(`${user}\0${user}\0${password}`))).not.toBe(MASK);
    s.usedForSaslBy(user);
    expect(redact(b64(`${user}\0${user}\0${password}`))).toBe(MASK);
  });
});

describe('authinfo', () => {
  it('never shows the password, written as text or as base64 (P=)', () => {
    for (const password of [value(1), value(2), `"${value(2)}`, `${value(9)}\\`]) {
      const s = sendmailSettingsSchema.parse({
        smartHost: 'smtp.example.org',
        auth: { user: 'ops@example.org', password: secret.value(password) },
      });
      const text = renderAuthinfo('smtp.example.org', s.auth!, s.auth!.password.reveal());
      expect(text).toMatch(/"P[:=]/);
      for (const shown of [redact(text), maskAuthinfo(text)]) {
        expect(shown).not.toContain(`P:${password}"`);
        expect(shown).not.toContain(`P=${b64(password)}"`);
      }
    }
  });
});
