// Causes and remedies read from what sendmail, its queue and smart hosts really say.
import { describe, expect, it } from 'vitest';
import { diagnoseConnect, diagnoseText, oneLine } from '../../../../playbooks/sendmail-smarthost/diagnose.ts';
import { describeQueue, parseQueue, queueFinding } from '../../../../playbooks/sendmail-smarthost/queue.ts';

const ctx = { smartHost: 'smtp.gmail.com', port: 587, user: 'ops@example.org', caFile: '/etc/ssl/certs/ca-certificates.crt' };
const code = (text: string) => diagnoseText(text, ctx)?.code;

describe('diagnoseText', () => {
  it('reads reply codes of smart hosts', () => {
    expect(code('535 5.7.8 Username and Password not accepted. For more information, go to')).toBe('credentials-refused');
    expect(code('534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9 https://support')).toBe(
      'app-password-required',
    );
    expect(code('530 5.7.0 Must issue a STARTTLS command first.')).toBe('starttls-required');
    expect(code('421 4.7.0 Try again later, closing connection.')).toBe('refused-at-greeting');
    expect(code('Deferred: 421 4.7.0 Try again later, closing connection.')).toBe('refused-at-greeting');
  });

  it("reads sendmail's own words: tls_server, deferral reasons, the mail log", () => {
    expect(code('Deferred: 454 4.7.0 CN smtp.sandbox.test does not match other.sandbox.test')).toBe('certificate-name-mismatch');
    expect(code('Deferred: 454 4.7.0 authentication failed')).toBe('certificate-untrusted');
    expect(code('ruleset=tls_server, arg1=NONE, relay=smtp.gmail.com, reject=403 4.7.0 other side does not support STARTTLS')).toBe(
      'no-starttls',
    );
    expect(code('Deferred: Connection refused by [smtp.gmail.com]')).toBe('connection-refused');
    expect(code('Deferred: Connection timed out with [smtp.gmail.com]')).toBe('connection-timed-out');
    expect(code('Deferred: Name server: [smtp.gmial.com]: host name lookup failure')).toBe('name-not-found');
    expect(code('Sent (OK 123 - gsmtp)')).toBeUndefined();
  });

  it('says what to do in one line, naming the smart host and the user', () => {
    const d = diagnoseText('535 5.7.8 Username and Password not accepted', ctx)!;
    expect(oneLine(d)).not.toContain('\n');
    expect(d.cause).toContain('smtp.gmail.com:587 refused the credentials of ops@example.org');
    expect(d.remedy).toMatch(/password secret/);
    expect(diagnoseConnect('timed-out', 'no connection within 10 s', ctx).remedy).toMatch(/block/);
  });
});

describe('the mail queue', () => {
  const output = [
    'now 1795468000',
    'm\t/var/spool/mqueue\t1795464562\tDeferred: 454 4.7.0 CN smtp.gmail.com does not match other.example',
    'm\t/var/spool/mqueue\t1795467000\tDeferred: 454 4.7.0 CN smtp.gmail.com does not match other.example',
    'm\t/var/spool/mqueue-client\t1795467900\t',
    'count 3',
  ].join('\n');

  it('reads count, age and deferral reasons', () => {
    const q = parseQueue(output);
    expect(q).toMatchObject({ count: 3, now: 1795468000 });
    expect(q.messages.map((m) => m.reason)).toEqual([
      'Deferred: 454 4.7.0 CN smtp.gmail.com does not match other.example',
      'Deferred: 454 4.7.0 CN smtp.gmail.com does not match other.example',
      '',
    ]);
  });

  it('becomes a finding with the oldest age and the causes, only when messages wait', () => {
    const text = describeQueue(parseQueue(output), ctx)!;
    expect(text).toMatch(/^3 messages wait in the mail queue, the oldest for 57 min: 2 x the certificate of smtp.gmail.com:587 is not for/);
    expect(queueFinding(parseQueue('now 5\ncount 0\n'), ctx)).toEqual([]);
    expect(queueFinding(parseQueue(output), ctx)[0]).toMatchObject({ level: 'warning', code: 'mail-queued' });
  });
});
