// SES SMTP passwords derived from an IAM secret access key (issue 27, item 2). The vectors were
// computed outside this project with AWS's own published script (smtp_credentials_generate.py).
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { settingsKey } from '../../../src/inventory/bindings.ts';
import { MASK, redact, secret } from '../../../src/secrets/index.ts';
import { deriveSesSmtpPassword } from '../../../src/secrets/ses.ts';

const KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const VECTORS: [string, string][] = [
  ['us-east-1', 'BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9'],
  ['eu-west-1', 'BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk'],
];

afterEach(() => {
  delete process.env.MAILPROV_TEST_AWS_KEY;
});

describe('secret.sesSmtpPassword', () => {
  it.each(VECTORS)("derives AWS's password for %s", (region, password) => {
    expect(deriveSesSmtpPassword(KEY, region)).toBe(password);
    process.env.MAILPROV_TEST_AWS_KEY = KEY;
    expect(secret.sesSmtpPassword(secret.env('MAILPROV_TEST_AWS_KEY'), region).reveal()).toBe(password);
  });

  it('is a secret like any other: masked in text, JSON and inspect, and so is the key it comes from', () => {
    process.env.MAILPROV_TEST_AWS_KEY = KEY;
    const s = secret.sesSmtpPassword(secret.env('MAILPROV_TEST_AWS_KEY'), 'eu-west-1');
    expect(`${s}`).toBe(MASK);
    expect(JSON.stringify({ s })).toBe(`{"s":"${MASK}"}`);
    expect(inspect(s)).toBe('Secret(the SES SMTP password for eu-west-1 derived from environment variable MAILPROV_TEST_AWS_KEY)');
    const password = s.reveal();
    expect(redact(`AuthInfo: "P:${password}" from ${KEY}`)).toBe(`AuthInfo: "P:${MASK}" from ${MASK}`);
    // the AUTH payloads that carry it, as for any password
    s.usedForSaslBy('AKIAIOSFODNN7EXAMPLE');
    expect(redact(Buffer.from(`\0AKIAIOSFODNN7EXAMPLE\0${password}`).toString('base64'))).toBe(MASK);
  });

  it('says which secret is missing, and refuses a key given in the clear or a region that is none', () => {
    expect(() => secret.sesSmtpPassword(secret.env('MAILPROV_TEST_AWS_KEY'), 'us-east-1').reveal()).toThrow(
      'secret not set: environment variable MAILPROV_TEST_AWS_KEY is empty or missing',
    );
    expect(() => secret.sesSmtpPassword(KEY as never, 'us-east-1')).toThrow(/never the key itself/);
    expect(() => secret.sesSmtpPassword(secret.env('X'), 'Ireland')).toThrow(
      'secret.sesSmtpPassword() needs an AWS region such as eu-west-1, not "Ireland"',
    );
  });

  it('identifies the same derivation for shared builds by its source, never by a value', () => {
    const a = settingsKey(secret.sesSmtpPassword(secret.env('A'), 'eu-west-1'));
    expect(a).toBe(settingsKey(secret.sesSmtpPassword(secret.env('A'), 'eu-west-1')));
    expect(a).not.toBe(settingsKey(secret.sesSmtpPassword(secret.env('B'), 'eu-west-1')));
    expect(a).not.toBe(settingsKey(secret.sesSmtpPassword(secret.env('A'), 'us-east-1')));
    expect(settingsKey(secret.sesSmtpPassword(secret.value(KEY), 'eu-west-1'))).toBeUndefined();
  });
});
