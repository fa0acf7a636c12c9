// The submission certificate (issue 32): names and expiry read from real certificates (made here
// with the controller's openssl), the decision to issue again, the lint of each kind of `tls`, the
// plan of a certificate made per host, and the signing of a host's request on the controller.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../../../playbooks/sendmail-smarthost.ts';
import { SUBMISSION_PATHS } from '../../../../playbooks/sendmail-smarthost/render.ts';
import { sendmailSettingsSchema } from '../../../../playbooks/sendmail-smarthost/settings.ts';
import {
  altNames,
  certStatus,
  daysLeft,
  expiryText,
  hostCertFindings,
  issueCertificate,
  lintSubmissionTls,
  parseSubmissionCert,
  readCert,
  reissueReason,
  sameNames,
  SUBMISSION_CERT_ID,
  submissionCertFact,
  wantedNames,
  type SubmissionCertFact,
  type SubmissionTls,
} from '../../../../playbooks/sendmail-smarthost/submission-cert.ts';
import { planHost } from '../../../../src/engine/plan.ts';
import { changesDiffer, saveChange } from '../../../../src/plans/digest.ts';
import type { Change } from '../../../../src/index.ts';
import { secret } from '../../../../src/secrets/index.ts';
import { debianOs, hostFacts } from '../../fixtures.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'mailprov-cert-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
/** A new key (EC: quick to make), its PEM and its path. */
function newKey(): { path: string; pem: string } {
  const path = join(dir, `k${++n}.pem`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  return { path, pem: readFileSync(path, 'utf8') };
}
function selfSigned(names: string[], days: number, key = newKey(), ca = false): { path: string; pem: string; key: typeof key } {
  const path = join(dir, `c${++n}.pem`);
  const san = names.map((x) => (/^[0-9.]+$/.test(x) ? `IP:${x}` : `DNS:${x}`)).join(',');
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key.path,
    '-config',
    '/dev/null',
    '-subj',
    `/CN=${names[0]}`,
    '-days',
    String(days),
    '-addext',
    ca ? 'basicConstraints=critical,CA:TRUE' : `subjectAltName=${san}`,
    '-out',
    path,
  ]);
  return { path, pem: readFileSync(path, 'utf8'), key };
}
const CA = selfSigned(['Office CA'], 3650, newKey(), true);
const OTHER_CA = selfSigned(['Other CA'], 3650, newKey(), true);
/** A certificate for `names` issued by a CA, through the code that signs a host's request. */
async function issued(names: string[], days: number, ca = CA, key = newKey()) {
  const csr = openssl(['req', '-new', '-key', key.path, '-subj', '/CN=whatever', '-batch']);
  const pem = await issueCertificate(`noise before\n${csr}`, { caCert: ca.path, caKey: secret.value(ca.key.pem), names, days });
  return { pem, key };
}
const pub = (key: { path: string }) => openssl(['pkey', '-in', key.path, '-pubout']);
const fact = (cert: { pem: string } | null, key: { path: string } | null): SubmissionCertFact => ({
  cert: cert?.pem ?? null,
  keyExists: key !== null,
  keyPublic: key ? pub(key) : null,
});

describe('what a certificate says', () => {
  it('names from subjectAltName, DNS and IP; whole days left; expiry in words', () => {
    expect(altNames('DNS:relay1.example.org, IP Address:10.0.0.1, email:x@y')).toEqual(['relay1.example.org', '10.0.0.1']);
    expect(altNames(undefined)).toEqual([]);
    const now = Date.parse('2027-01-01T00:00:00Z');
    expect(daysLeft(now + 12.9 * DAY, now)).toBe(12);
    expect(expiryText(now + 12.9 * DAY, now)).toBe('expires in 12 day(s) (2027-01-13)');
    expect(expiryText(now - 2.5 * DAY, now)).toBe('expired 2 day(s) ago (2026-12-29)');
  });

  it('the host FQDN first, then the settings names, once each; names compared as sets, any case', () => {
    expect(wantedNames('Relay1.Example.org', ['mail.example.org', 'relay1.example.org', '10.0.0.1'])).toEqual([
      'relay1.example.org',
      'mail.example.org',
      '10.0.0.1',
    ]);
    expect(sameNames(['a.example', 'B.example'], ['b.example', 'a.example'])).toBe(true);
    expect(sameNames(['a.example'], ['a.example', 'b.example'])).toBe(false);
  });

  it('reads a real certificate: names, issuer, validity, self-signed or not', async () => {
    const leaf = await issued(['relay1.example.org', '10.0.0.1'], 90);
    const info = readCert(leaf.pem);
    expect(info).toMatchObject({
      subject: 'CN=relay1.example.org',
      issuer: 'CN=Office CA',
      names: ['relay1.example.org', '10.0.0.1'],
      selfSigned: false,
    });
    expect(daysLeft(info.notAfter, Date.now())).toBe(89);
    expect(readCert(CA.pem).selfSigned).toBe(true);
    expect(certStatus(fact(leaf, leaf.key))).toMatchObject({
      names: ['relay1.example.org', '10.0.0.1'],
      expiresAt: Math.floor(info.notAfter / 1000),
    });
    expect(certStatus({ cert: null, keyExists: false, keyPublic: null })).toBeNull();
  });
});

describe('the fact', () => {
  it('prints the certificate and only the public half of the key', () => {
    const script = submissionCertFact.script({ cert: SUBMISSION_PATHS.cert, key: SUBMISSION_PATHS.key });
    expect(script).toContain("cat '/etc/mail/submission-cert.pem'");
    expect(script).not.toContain("cat '/etc/mail/submission-key.pem'");
    expect(script).toContain("openssl pkey -in '/etc/mail/submission-key.pem' -pubout -passin pass: </dev/null");
  });

  it('parses what the script prints; a key openssl cannot read has no public half', () => {
    const key = newKey();
    const cert = selfSigned(['relay1.example.org'], 30, key);
    const out = `MAILPROV_SUBMISSION_CERT cert\n${cert.pem}MAILPROV_SUBMISSION_CERT key\nMAILPROV_SUBMISSION_CERT key-exists\n${pub(key)}`;
    expect(parseSubmissionCert(out)).toEqual({ cert: cert.pem, keyExists: true, keyPublic: pub(key) });
    expect(parseSubmissionCert('MAILPROV_SUBMISSION_CERT key\nMAILPROV_SUBMISSION_CERT key-exists\n')).toEqual({
      cert: null,
      keyExists: true,
      keyPublic: null,
    });
  });
});

describe('issue again, or leave alone', async () => {
  const NAMES = ['relay1.example.org'];
  const caX = new X509Certificate(CA.pem);
  const want = { names: NAMES, renewDays: 30, ca: caX };
  const now = Date.now();
  const good = await issued(NAMES, 365);

  it('leaves a certificate alone when it is from the CA, for its key and names, with time left', () => {
    expect(reissueReason(want, fact(good, good.key), now)).toBeUndefined();
    // and a self-signed one, when self-signed is what is asked
    const ss = selfSigned(NAMES, 365);
    expect(reissueReason({ names: NAMES, renewDays: 30 }, fact(ss, ss.key), now)).toBeUndefined();
  });

  it.each([
    ['no certificate', () => fact(null, null), /submission-cert\.pem does not exist/],
    ['no key', () => fact(good, null), /submission-key\.pem does not exist/],
    ['a key openssl cannot read', () => ({ ...fact(good, good.key), keyPublic: null }), /cannot be read as a key/],
    ['another key', () => fact(good, newKey()), /not for the key in/],
    ['garbage', () => ({ cert: 'not a cert\n', keyExists: true, keyPublic: null }), /holds no certificate/],
  ])('issues again: %s', (_what, have, why) => {
    expect(reissueReason(want, have(), now)).toMatch(why);
  });

  it('issues again when another CA issued it, or it is self-signed (and the other way round)', async () => {
    const other = await issued(NAMES, 365, OTHER_CA);
    expect(reissueReason(want, fact(other, other.key), now)).toMatch(/not issued by the CA CN=Office CA \(issuer: CN=Other CA\)/);
    const ss = selfSigned(NAMES, 365);
    expect(reissueReason(want, fact(ss, ss.key), now)).toMatch(/not issued by the CA/);
    expect(reissueReason({ names: NAMES, renewDays: 30 }, fact(good, good.key), now)).toMatch(/not self-signed/);
  });

  it('issues again when the names change', () => {
    expect(reissueReason({ ...want, names: [...NAMES, 'mail.example.org'] }, fact(good, good.key), now)).toBe(
      'its names (relay1.example.org) are not the ones wanted (relay1.example.org, mail.example.org)',
    );
  });

  it('issues again under renewDays left, not before', () => {
    expect(reissueReason(want, fact(good, good.key), now + 334 * DAY)).toBeUndefined();
    expect(reissueReason(want, fact(good, good.key), now + 336 * DAY)).toMatch(
      /^it expires in 2[89] day\(s\) \(.*\): renewed under 30 days$/,
    );
    expect(reissueReason(want, fact(good, good.key), now + 400 * DAY)).toMatch(/^it expired/);
  });
});

describe('lint of submission.tls', () => {
  const parseTls = (tls: unknown) =>
    sendmailSettingsSchema.parse({ smartHost: 'smtp.example.org', submission: { users: { a: secret.value('p') }, tls } }).submission!
      .tls as SubmissionTls;
  const codes = (f: { level: string; code: string }[]) => f.map((x) => `${x.level} ${x.code}`);

  it('a pushed certificate: its expiry said, a warning under 30 days, an error once expired or not for its key', async () => {
    const c = await issued(['relay1.example.org'], 90);
    const path = join(dir, 'pushed.pem');
    writeFileSync(path, c.pem);
    const tls = parseTls({ cert: path, key: secret.value(c.key.pem) });
    const now = Date.now();
    expect(lintSubmissionTls(tls, now)).toEqual([
      { level: 'info', code: 'submission-cert-expiry', message: expect.stringMatching(/ for relay1\.example\.org expires in 89 day\(s\)/) },
    ]);
    expect(lintSubmissionTls(tls, now + 70 * DAY)[0]).toMatchObject({
      level: 'warning',
      message: expect.stringMatching(/expires in 19 day\(s\) .*: under 30 days, put a new one in its place$/),
    });
    expect(codes(lintSubmissionTls(tls, now + 91 * DAY))).toEqual(['error submission-cert-expired']);
    const mismatch = lintSubmissionTls(parseTls({ cert: path, key: secret.value(newKey().pem) }), now);
    expect(mismatch[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/is not for the key submission\.tls\.key/) });
  });

  it('a pushed self-signed certificate is refused without selfSigned: true, and loudly warned with it', () => {
    const ss = selfSigned(['relay1.example.org'], 90);
    const refused = lintSubmissionTls(parseTls({ cert: ss.path, key: secret.value(ss.key.pem) }));
    expect(codes(refused)).toEqual(['info submission-cert-expiry', 'error submission-self-signed']);
    expect(refused[1].message).toMatch(/is self-signed \(CN=relay1\.example\.org\): set submission\.tls\.selfSigned: true/);
    const warned = lintSubmissionTls(parseTls({ cert: ss.path, key: secret.value(ss.key.pem), selfSigned: true }));
    expect(codes(warned)).toEqual(['info submission-cert-expiry', 'warning submission-self-signed']);
    expect(warned[1].message).toMatch(/^SELF-SIGNED: .* each one must pin it/);
  });

  it("the playbook's lint refuses, before any host is reached, a pushed certificate that is self-signed (without the setting) or not for its key", () => {
    const ss = selfSigned(['relay1.example.org'], 90);
    const lint = (tls: unknown, more: object = {}) =>
      sendmailSmartHost.definition.build(
        sendmailSettingsSchema.parse({ smartHost: 'smtp.example.org', submission: { users: { a: secret.value('p') }, tls }, ...more }),
      ).lint!()
        .filter((f) => f.level === 'error')
        .map((f) => f.code);
    expect(lint({ cert: ss.path, key: secret.value(ss.key.pem) })).toEqual(['submission-self-signed']);
    expect(lint({ cert: ss.path, key: secret.value(newKey().pem), selfSigned: true })).toEqual(['submission-cert']);
    expect(lint({ cert: ss.path, key: secret.value(ss.key.pem), selfSigned: true })).toEqual([]);
    // force: true downgrades what the lint thinks of an mc, never these
    expect(lint({ cert: ss.path, key: secret.value(ss.key.pem) }, { force: true })).toEqual(['submission-self-signed']);
  });

  it('a key that is no key is an error that never shows the key', () => {
    const ss = selfSigned(['relay1.example.org'], 90);
    const f = lintSubmissionTls(
      parseTls({
        cert: ss.path,
        key: secret.value('-----BEGIN PRIVATE KEY-----\nsecretbits\n-----END PRIVATE KEY-----'),
        selfSigned: true,
      }),
    );
    expect(f[0]).toMatchObject({ level: 'error', code: 'submission-cert' });
    expect(JSON.stringify(f)).not.toContain('secretbits');
  });

  it('a CA: a CA certificate for its key; a leaf, another key or renewDays not under days are errors', () => {
    expect(lintSubmissionTls(parseTls({ ca: { cert: CA.path, key: secret.value(CA.key.pem) } }))).toEqual([]);
    const leaf = selfSigned(['relay1.example.org'], 90);
    expect(codes(lintSubmissionTls(parseTls({ ca: { cert: leaf.path, key: secret.value(leaf.key.pem) } })))).toEqual([
      'error submission-ca',
      'warning submission-ca', // and it ends before a certificate issued now would
    ]);
    expect(codes(lintSubmissionTls(parseTls({ ca: { cert: CA.path, key: secret.value(OTHER_CA.key.pem) } })))).toEqual([
      'error submission-ca',
    ]);
    expect(
      lintSubmissionTls(parseTls({ ca: { cert: CA.path, key: secret.value(CA.key.pem) }, days: 30, renewDays: 30 }))[0].message,
    ).toMatch(/renewDays \(30\) must be fewer than days \(30\)/);
    // a CA that ends before a certificate issued now would: a warning
    const short = selfSigned(['Short CA'], 10, newKey(), true);
    expect(lintSubmissionTls(parseTls({ ca: { cert: short.path, key: secret.value(short.key.pem) } }))).toEqual([
      {
        level: 'warning',
        code: 'submission-ca',
        message: expect.stringMatching(/expires in 9 day\(s\) .*, before a certificate issued now for 365 days would/),
      },
    ]);
  });

  it('self-signed per host: a loud warning, and only with selfSigned: true', () => {
    expect(codes(lintSubmissionTls(parseTls({ selfSigned: true })))).toEqual(['warning submission-self-signed']);
    expect(() => parseTls({ selfSigned: false })).toThrow();
    expect(() => parseTls({})).toThrow();
  });
});

describe("the plan's word on the host's certificate", () => {
  it('names, issuer and days left; none yet', async () => {
    const c = await issued(['relay1.example.org'], 90);
    expect(hostCertFindings(fact(c, c.key))[0].message).toMatch(
      /^submission certificate on the host before any change: relay1\.example\.org, issued by CN=Office CA, expires in 89 day\(s\) \(/,
    );
    expect(hostCertFindings(fact(null, null))[0].message).toBe('no submission certificate on the host yet (/etc/mail/submission-cert.pem)');
  });
});

describe('signing on the controller', () => {
  it("takes only the request's key: subject and names are the plan's, the CA's key is never in openssl's arguments", async () => {
    const key = newKey();
    // a request asking for more than it should get
    const csr = openssl([
      'req',
      '-new',
      '-key',
      key.path,
      '-subj',
      '/CN=bank.example',
      '-addext',
      'subjectAltName=DNS:bank.example',
      '-batch',
    ]);
    const pem = await issueCertificate(csr, {
      caCert: CA.path,
      caKey: secret.value(CA.key.pem),
      names: ['relay1.example.org', '10.0.0.1'],
      days: 10,
    });
    const x = new X509Certificate(pem);
    expect(x.subject).toBe('CN=relay1.example.org');
    expect(x.subjectAltName).toBe('DNS:relay1.example.org, IP Address:10.0.0.1');
    expect(x.verify(new X509Certificate(CA.pem).publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(openssl(['verify', '-CAfile', CA.path, '-purpose', 'sslserver'], pem)).toMatch(/OK/);
  });

  it('no request, or a CA key that does not sign, is an error', async () => {
    await expect(
      issueCertificate('nothing here', { caCert: CA.path, caKey: secret.value(CA.key.pem), names: ['a'], days: 1 }),
    ).rejects.toThrow(/the host printed no certificate request/);
    const csr = openssl(['req', '-new', '-key', newKey().path, '-subj', '/CN=x', '-batch']);
    await expect(issueCertificate(csr, { caCert: CA.path, caKey: secret.value('garbage'), names: ['a'], days: 1 })).rejects.toThrow(
      /openssl on the controller could not sign/,
    );
  });
});

describe('the plan of a certificate made per host', () => {
  const planWith = (tls: unknown, have: SubmissionCertFact) =>
    planHost(
      sendmailSmartHost.definition.build(
        sendmailSettingsSchema.parse({
          smartHost: 'smtp.example.org',
          relayFrom: ['192.168'],
          submission: { users: { a: secret.value('p') }, tls },
        }),
      ).resources,
      hostFacts({ os: debianOs, extra: { 'submission-cert': have, 'sasl-users': { exists: false, users: [], record: {} } } }),
    );
  const certChange = (tls: unknown, have: SubmissionCertFact) =>
    planWith(tls, have).changes.find((c) => c.resourceId === SUBMISSION_CERT_ID) as Change | undefined;
  const ca = { cert: CA.path, key: secret.value(CA.key.pem) };

  it('from the CA: a key and request made on the host, then the certificate signed on the controller; both files kept for undo', () => {
    const c = certChange({ ca, names: ['mail.example.org'] }, { cert: null, keyExists: false, keyPublic: null })!;
    expect(c.summary).toBe('issue the submission certificate for relay1.example.org, mail.example.org from the CA CN=Office CA (365 days)');
    expect(c.steps.map((s) => s.label)).toEqual([
      'make a new key and a certificate request on the host',
      'install the certificate issued by CN=Office CA',
    ]);
    expect(c.steps[0].stdin).toBeUndefined();
    expect(c.steps[1].stdin).toBeUndefined();
    expect(c.steps[1].stdinFrom).toBeTypeOf('function');
    expect(c.files).toEqual([{ path: SUBMISSION_PATHS.cert }, { path: SUBMISSION_PATHS.key, sensitive: true }]);
    expect(c.steps[0].command).toContain('openssl req -new -key "$new" -subj \'/CN=relay1.example.org\' -batch');
    expect(c.steps[1].command).toContain('mv -f "$new" \'/etc/mail/submission-key.pem\'');
    expect(JSON.stringify(c)).not.toMatch(/PRIVATE KEY/);
    // the certificate is read by a restarted sendmail, and relabelled on SELinux
    const all = planWith({ ca }, { cert: null, keyExists: false, keyPublic: null }).changes.map((ch) => ch.resourceId);
    expect(all).toContain('service:sendmail');
    // the openssl CLI that makes the key and the request (Debian's sendmail needs only libssl)
    expect(planWith({ ca }, { cert: null, keyExists: false, keyPublic: null }).changes[0].summary).toBe(
      'install sendmail, sendmail-cf, libsasl2-modules, sasl2-bin, openssl (apt)',
    );
  });

  it('a saved plan holds no certificate (it is signed at apply) and the same change planned again matches it', () => {
    const c = certChange({ ca }, { cert: null, keyExists: false, keyPublic: null })!;
    const saved = saveChange(c, '00'.repeat(16));
    expect(saved.steps.map((st) => st.stdin)).toEqual([null, null]);
    expect(changesDiffer([saved], [certChange({ ca }, { cert: null, keyExists: false, keyPublic: null })!], '00'.repeat(16))).toEqual([]);
  });

  it('a certificate that stays: no change, and the reason says when it expires', async () => {
    const good = await issued(['relay1.example.org'], 365);
    const plan = planWith({ ca }, fact(good, good.key));
    expect(plan.changes.map((c) => c.resourceId)).not.toContain(SUBMISSION_CERT_ID);
    expect(plan.unchanged.find((u) => u.resourceId === SUBMISSION_CERT_ID)?.reason).toMatch(
      /^the certificate for relay1\.example\.org \(issued by CN=Office CA\) expires in 364 day\(s\) .*; renewed under 30 days$/,
    );
  });

  it('self-signed: one step on the host, said so in the summary', () => {
    const c = certChange({ selfSigned: true, days: 90, renewDays: 10 }, { cert: null, keyExists: false, keyPublic: null })!;
    expect(c.summary).toBe('make a SELF-SIGNED submission certificate for relay1.example.org (90 days; clients must pin it)');
    expect(c.steps).toHaveLength(1);
    expect(c.steps[0].command).toContain("-subj '/CN=relay1.example.org' -days '90'");
    expect(c.steps[0].command).toContain("-addext 'subjectAltName=DNS:relay1.example.org'");
  });
});
