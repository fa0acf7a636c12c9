// The submission daemon's certificate (issue 32): pushed from the controller (`tls.cert` + `tls.key`,
// two file resources in sendmail-smarthost.ts), issued per host by the operator's CA (`tls.ca`), or
// self-signed per host (`tls.selfSigned: true`, and only then).
//
// Issued or self-signed, the private key is made on the host and never leaves it: the host makes a
// new key and a certificate request (printed on the step's stdout), the controller signs it with the
// CA's key (openssl, the CA key on its stdin: never on a command line, never on the host), and the
// next step installs the certificate after checking that it is for the key just made. The fact that
// plans it reads the host's certificate and only the *public* half of its key.
//
// A certificate is issued again when there is none, when it is not for the key beside it, not from
// this CA (or not self-signed, as asked), not for the names wanted, or when fewer than `renewDays`
// are left; otherwise it is left alone, so a second apply changes nothing.
//
// Undo: the change names the certificate and the key, so the journal copies both aside before the
// first step (the key as a secret) and a rollback puts the previous pair back, or removes a new one.
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defineFact,
  OperationError,
  redact,
  script,
  sh,
  type Change,
  type Finding,
  type HostFacts,
  type NoChange,
  type Resource,
  type Secret,
  type ServerCertificate,
} from 'mailprov';
import { SUBMISSION_PATHS } from './render.ts';
import type { SendmailSettings } from './settings.ts';

export type SubmissionTls = NonNullable<SendmailSettings['submission']>['tls'];
export type PushedTls = Extract<SubmissionTls, { cert: string }>;
export type IssuedTls = Exclude<SubmissionTls, PushedTls>;

export const isPushed = (tls: SubmissionTls): tls is PushedTls => 'cert' in tls;

export const SUBMISSION_CERT_ID = 'submission-cert:sendmail';

/** Plan warns when a certificate that stays has fewer days left (and `status --nagios` by default). */
export const CERT_WARN_DAYS = 30;

const DAY_MS = 86_400_000;

/** The new key's temporary place, beside the key (same file system: the rename is atomic). */
const NEW_KEY = `${SUBMISSION_PATHS.key}.mailprov-new`;

// ---------------------------------------------------------------------------------------------
// The fact: the host's certificate and the public half of its key

export interface SubmissionCertFact {
  /** The certificate file's text, null when there is none. */
  cert: string | null;
  /** The key file exists. */
  keyExists: boolean;
  /** Its public key (SPKI PEM), as openssl reads it; null when there is no key or openssl cannot read it. */
  keyPublic: string | null;
}

const MARK = 'MAILPROV_SUBMISSION_CERT';

/** The certificate and the *public* key of the key beside it: the private key is never printed. */
export const submissionCertFact = defineFact<SubmissionCertFact, { cert: string; key: string }>({
  name: 'submission-cert',
  script: ({ cert, key }) =>
    [
      sh`if [ -f ${cert} ]; then echo ${`${MARK} cert`}; cat ${cert}; fi`,
      sh`echo ${`${MARK} key`}`,
      // stdin closed and no pass phrase: an encrypted key is unreadable here, never a prompt
      sh`if [ -f ${key} ]; then echo ${`${MARK} key-exists`}; openssl pkey -in ${key} -pubout -passin pass: </dev/null 2>/dev/null; fi`,
      'true',
    ].join('\n'),
  parse: parseSubmissionCert,
});

export function parseSubmissionCert(text: string): SubmissionCertFact {
  const out: SubmissionCertFact = { cert: null, keyExists: false, keyPublic: null };
  const lines = text.split('\n');
  const at = (l: string) => lines.indexOf(`${MARK} ${l}`);
  const certAt = at('cert');
  const keyAt = at('key');
  if (certAt >= 0 && keyAt > certAt) out.cert = `${lines.slice(certAt + 1, keyAt).join('\n')}\n`;
  const existsAt = at('key-exists');
  if (existsAt >= 0) {
    out.keyExists = true;
    const pub = lines.slice(existsAt + 1).join('\n');
    const m = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(pub);
    if (m) out.keyPublic = `${m[0]}\n`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pure parts: what a certificate says, whether it must be issued again

export interface CertInfo {
  subject: string;
  issuer: string;
  /** Its subjectAltName's DNS names and IP addresses, in its order. */
  names: string[];
  notBefore: number;
  /** Milliseconds since the epoch. */
  notAfter: number;
  selfSigned: boolean;
  /** Its public key, DER (SPKI) as hex: what a key is compared with. */
  publicKey: string;
}

/** "DNS:a.example, IP Address:10.0.0.1" -> ["a.example", "10.0.0.1"]. */
export function altNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .map((part) => /^(?:DNS|IP Address):(.+)$/.exec(part.trim())?.[1])
    .filter((n): n is string => n !== undefined);
}

const spkiHex = (key: string | KeyObject) =>
  (typeof key === 'string' || key.type !== 'public' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' }).toString('hex');

/** The first certificate of a PEM text, read; throws when there is none. */
export function readCert(pem: string): CertInfo {
  const x = new X509Certificate(pem);
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    names: altNames(x.subjectAltName),
    notBefore: Date.parse(x.validFrom),
    notAfter: Date.parse(x.validTo),
    selfSigned: x.checkIssued(x) && x.verify(x.publicKey),
    publicKey: spkiHex(x.publicKey),
  };
}

/** Whole days left (negative once expired), rounded down. */
export const daysLeft = (notAfter: number, now: number): number => Math.floor((notAfter - now) / DAY_MS);

/** "expires in 12 days (2027-01-01)", "expired 3 days ago (...)". */
export function expiryText(notAfter: number, now: number): string {
  const d = daysLeft(notAfter, now);
  const date = new Date(notAfter).toISOString().slice(0, 10);
  if (notAfter <= now) return `expired ${Math.max(0, -d - 1)} day(s) ago (${date})`;
  return `expires in ${d} day(s) (${date})`;
}

/** The names a host's certificate carries: its FQDN first (the subject's CN), then the settings' own. */
export function wantedNames(fqdn: string, extra: readonly string[]): string[] {
  const all = [fqdn, ...extra].map((n) => n.toLowerCase());
  return [...new Set(all)];
}

/** Same names, in any order and case. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const norm = (l: readonly string[]) => [...new Set(l.map((n) => n.toLowerCase()))].sort().join(',');
  return norm(a) === norm(b);
}

export interface WantedCert {
  names: string[];
  renewDays: number;
  /** The CA that issues it; undefined: self-signed. */
  ca?: X509Certificate;
}

/** Why the host's certificate must be issued again, or undefined when it stays. */
export function reissueReason(want: WantedCert, have: SubmissionCertFact, now: number): string | undefined {
  if (have.cert === null) return `${SUBMISSION_PATHS.cert} does not exist`;
  let info: CertInfo;
  let x: X509Certificate;
  try {
    x = new X509Certificate(have.cert);
    info = readCert(have.cert);
  } catch {
    return `${SUBMISSION_PATHS.cert} holds no certificate openssl can read`;
  }
  if (!have.keyExists) return `${SUBMISSION_PATHS.key} does not exist`;
  if (have.keyPublic === null) return `${SUBMISSION_PATHS.key} cannot be read as a key without a pass phrase`;
  if (spkiHex(have.keyPublic) !== info.publicKey) return `the certificate is not for the key in ${SUBMISSION_PATHS.key}`;
  if (want.ca) {
    if (!(x.checkIssued(want.ca) && x.verify(want.ca.publicKey)))
      return `it was not issued by the CA ${want.ca.subject.replace(/\n/g, ', ')} (issuer: ${info.issuer})`;
  } else if (!info.selfSigned) return `it is not self-signed (issuer: ${info.issuer}) and the settings ask for a self-signed one`;
  if (!sameNames(info.names, want.names))
    return `its names (${info.names.join(', ') || 'none'}) are not the ones wanted (${want.names.join(', ')})`;
  // a certificate made a moment ago by a host whose clock runs ahead is fine: a day's slack
  if (info.notBefore > now + DAY_MS) return `it is not valid before ${new Date(info.notBefore).toISOString()}`;
  if (daysLeft(info.notAfter, now) < want.renewDays) return `it ${expiryText(info.notAfter, now)}: renewed under ${want.renewDays} days`;
  return undefined;
}

/** The host's certificate as `mailprov status` shows it; null when there is none (or it cannot be read). */
export function certStatus(fact: SubmissionCertFact): ServerCertificate | null {
  if (fact.cert === null) return null;
  try {
    const c = readCert(fact.cert);
    return { subject: c.subject, issuer: c.issuer, names: c.names, expiresAt: Math.floor(c.notAfter / 1000), selfSigned: c.selfSigned };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Lint (before any host is reached) and the plan's word on the host's certificate

const fileError = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);

/** An unencrypted private key from a secret, or why not. */
function readKey(secret: Secret, what: string): { key?: ReturnType<typeof createPrivateKey>; finding?: Finding } {
  let text: string;
  try {
    text = secret.reveal();
  } catch (err) {
    return { finding: { level: 'error', code: 'secret-missing', message: `${what}: ${(err as Error).message}` } };
  }
  try {
    return { key: createPrivateKey(text) };
  } catch {
    // never the key's text, nor what the parser made of it
    return {
      finding: {
        level: 'error',
        code: 'submission-cert',
        message: `${what} is no private key mailprov can read (PEM, without a pass phrase)`,
      },
    };
  }
}

/** The first certificate of a file on the controller, or why not. */
function readCertFile(path: string, what: string): { x?: X509Certificate; finding?: Finding } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { finding: { level: 'error', code: 'submission-cert', message: `${what}: ${path} cannot be read: ${fileError(err)}` } };
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    return { finding: { level: 'error', code: 'submission-cert', message: `${what}: ${path} holds no PEM certificate` } };
  try {
    return { x: new X509Certificate(text) };
  } catch (err) {
    return { finding: { level: 'error', code: 'submission-cert', message: `${what}: ${path}: ${(err as Error).message}` } };
  }
}

const SELF_SIGNED_WARNING =
  'no mail client can verify a self-signed certificate: each one must pin it (or trust it by hand), ' +
  'and one that does not gets no protection from TLS against a machine in the middle; issue it from your CA (tls.ca) instead';

/**
 * The certificate settings, checked on the controller: a pushed certificate readable, for its key,
 * valid now, self-signed only with `selfSigned: true`, and its expiry; a CA that is one, with its
 * key; and a loud warning for every self-signed certificate.
 */
export function lintSubmissionTls(tls: SubmissionTls, now = Date.now()): Finding[] {
  const findings: Finding[] = [];
  if (isPushed(tls)) {
    const { key, finding: keyFinding } = readKey(tls.key, 'submission.tls.key');
    if (keyFinding) findings.push(keyFinding);
    const { x, finding } = readCertFile(tls.cert, 'submission.tls.cert');
    if (finding) return [...findings, finding];
    const info = readCert(x!.toString());
    const where = `submission.tls.cert (${tls.cert})`;
    if (key && !x!.checkPrivateKey(key))
      findings.push({
        level: 'error',
        code: 'submission-cert',
        message: `${where} is not for the key submission.tls.key: they are not a pair`,
      });
    if (info.notAfter <= now)
      findings.push({ level: 'error', code: 'submission-cert-expired', message: `${where} ${expiryText(info.notAfter, now)}` });
    else if (info.notBefore > now)
      findings.push({
        level: 'error',
        code: 'submission-cert',
        message: `${where} is not valid before ${new Date(info.notBefore).toISOString()}`,
      });
    else if (daysLeft(info.notAfter, now) < CERT_WARN_DAYS)
      findings.push({
        level: 'warning',
        code: 'submission-cert-expiry',
        message: `${where} for ${info.names.join(', ') || info.subject} ${expiryText(info.notAfter, now)}: under ${CERT_WARN_DAYS} days, put a new one in its place`,
      });
    else
      findings.push({
        level: 'info',
        code: 'submission-cert-expiry',
        message: `${where} for ${info.names.join(', ') || info.subject} ${expiryText(info.notAfter, now)}`,
      });
    if (info.selfSigned && !tls.selfSigned)
      findings.push({
        level: 'error',
        code: 'submission-self-signed',
        message: `${where} is self-signed (${info.subject}): set submission.tls.selfSigned: true to use it anyway (${SELF_SIGNED_WARNING})`,
      });
    else if (info.selfSigned)
      findings.push({ level: 'warning', code: 'submission-self-signed', message: `SELF-SIGNED: ${where}: ${SELF_SIGNED_WARNING}` });
    return findings;
  }
  if (tls.renewDays >= tls.days)
    findings.push({
      level: 'error',
      code: 'submission-cert',
      message: `submission.tls: renewDays (${tls.renewDays}) must be fewer than days (${tls.days}), or every apply would issue the certificate again`,
    });
  if (!('ca' in tls)) {
    findings.push({
      level: 'warning',
      code: 'submission-self-signed',
      message: `SELF-SIGNED: submission.tls.selfSigned: each host makes its own certificate: ${SELF_SIGNED_WARNING}`,
    });
    return findings;
  }
  const { x: ca, finding } = readCertFile(tls.ca.cert, 'submission.tls.ca.cert');
  if (finding) findings.push(finding);
  const { key, finding: keyFinding } = readKey(tls.ca.key, 'submission.tls.ca.key');
  if (keyFinding) findings.push(keyFinding);
  if (!ca) return findings;
  const where = `submission.tls.ca.cert (${tls.ca.cert})`;
  if (!ca.ca)
    findings.push({ level: 'error', code: 'submission-ca', message: `${where} is not a CA certificate (basicConstraints CA:TRUE)` });
  if (key && !ca.checkPrivateKey(key))
    findings.push({
      level: 'error',
      code: 'submission-ca',
      message: `${where} is not for the key submission.tls.ca.key: they are not a pair`,
    });
  const caEnd = Date.parse(ca.validTo);
  if (caEnd <= now) findings.push({ level: 'error', code: 'submission-ca', message: `${where} ${expiryText(caEnd, now)}` });
  else if (daysLeft(caEnd, now) < tls.days)
    findings.push({
      level: 'warning',
      code: 'submission-ca',
      message: `${where} ${expiryText(caEnd, now)}, before a certificate issued now for ${tls.days} days would: clients stop trusting it then`,
    });
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (openssl.status !== 0)
    findings.push({
      level: 'error',
      code: 'submission-ca',
      message: 'submission.tls.ca: the controller signs each host certificate with openssl, which does not run here (install it)',
    });
  return findings;
}

/** What the plan says of the host's certificate now: its names, its issuer and when it expires. */
export function hostCertFindings(fact: SubmissionCertFact, now = Date.now()): Finding[] {
  if (fact.cert === null)
    return [
      { level: 'info', code: 'submission-cert-expiry', message: `no submission certificate on the host yet (${SUBMISSION_PATHS.cert})` },
    ];
  let info: CertInfo;
  try {
    info = readCert(fact.cert);
  } catch {
    return [
      { level: 'info', code: 'submission-cert-expiry', message: `${SUBMISSION_PATHS.cert} on the host holds no readable certificate` },
    ];
  }
  return [
    {
      level: 'info',
      code: 'submission-cert-expiry',
      message: `submission certificate on the host before any change: ${info.names.join(', ') || info.subject}, ${info.selfSigned ? 'self-signed' : `issued by ${info.issuer}`}, ${expiryText(info.notAfter, now)}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Issuing, on the controller: the CA key on openssl's stdin, the request and extensions in a
// private temporary folder

/** The subjectAltName of a host's certificate: DNS names, and IP addresses as such. */
export const subjectAltName = (names: readonly string[]): string =>
  names.map((n) => (/^[0-9.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');

/** The extensions of a host's certificate: a server's, for its names. */
export function extensionsConfig(names: readonly string[]): string {
  return [
    '[v3]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${subjectAltName(names)}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    '',
  ].join('\n');
}

function openssl(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // through cat: node's stdin for a child is a socket, which openssl cannot open as /dev/stdin;
    // a pipe it can. The arguments go as "$@", never through the shell's parsing.
    const child = spawn('sh', ['-c', 'cat | openssl "$@"', 'openssl', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // it exited before reading: its exit status says why
    child.stdin.end(stdin);
  });
}

export interface IssueOptions {
  caCert: string;
  caKey: Secret;
  names: string[];
  days: number;
}

/**
 * Signs the host's certificate request with the CA: only its public key is taken (checked against
 * its own signature by openssl); subject and extensions are the plan's, never the request's.
 */
export async function issueCertificate(requestOutput: string, opts: IssueOptions): Promise<string> {
  const csr = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/.exec(requestOutput)?.[0];
  if (!csr) throw new OperationError('the host printed no certificate request to sign');
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-ca-'));
  try {
    writeFileSync(join(dir, 'request.pem'), `${csr}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'ext.cnf'), extensionsConfig(opts.names), { mode: 0o600 });
    const serial = randomBytes(16);
    serial[0] &= 0x7f; // a positive number of at most 16 bytes
    const r = await openssl(
      [
        'x509',
        '-req',
        '-in',
        join(dir, 'request.pem'),
        '-CA',
        opts.caCert,
        '-CAkey',
        '/dev/stdin',
        '-subj',
        `/CN=${opts.names[0]}`,
        '-days',
        String(opts.days),
        '-set_serial',
        `0x${serial.toString('hex')}`,
        '-sha256',
        '-extfile',
        join(dir, 'ext.cnf'),
        '-extensions',
        'v3',
      ],
      opts.caKey.reveal(),
    );
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
    if (r.code !== 0 || !cert)
      throw new OperationError(
        `openssl on the controller could not sign the host's certificate request with ${opts.caCert} (exit ${r.code})`,
        redact(r.stderr).trim().split('\n').slice(0, 5),
      );
    return `${cert}\n`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The resource

/** The host's steps: a new key (root's, 0600) made beside the old one as "$new", never printed. */
function newKeyLines(): string[] {
  return [
    'umask 077',
    sh`new=${NEW_KEY}`,
    'rm -f "$new"',
    'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$new"',
    // /etc/mail is setgid smmsp on Debian: the group is said, not inherited
    'chown root:root "$new"',
  ];
}

/** A temporary file for the certificate beside it as "$tmp"; it and the new key go if the step fails. */
const tmpCertLines = () => [
  sh`tmp=$(mktemp ${`${SUBMISSION_PATHS.cert.replace(/[^/]*$/, '')}.submission-cert.pem.mailprov.XXXXXX`})`,
  `trap 'rm -f "$tmp" "$new"' EXIT`,
];

/** Puts the certificate ("$tmp") and the new key ("$new") in place, once they are checked to be a pair. */
function installLines(): (string | { run: string; name: string })[] {
  const { cert, key } = SUBMISSION_PATHS;
  return [
    {
      run: '[ "$(openssl x509 -in "$tmp" -noout -pubkey)" = "$(openssl pkey -in "$new" -pubout)" ]',
      name: 'the certificate is for the key just made',
    },
    'chmod 0644 "$tmp"',
    'chown root:root "$tmp"',
    'chmod 0600 "$new"',
    sh`mv -f "$new" ${key}`,
    sh`mv -f "$tmp" ${cert}`,
    'trap - EXIT',
  ];
}

/** The CA's certificate, for planning (the lint said why it cannot be read, `status` says it here). */
function readCa(path: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new OperationError(`submission.tls.ca.cert: ${path} cannot be read as a certificate: ${fileError(err)}`);
  }
}

export interface SubmissionCertOptions {
  tls: IssuedTls;
  notify: string[];
}

/** The certificate and key of the submission daemon, made per host (issued by `tls.ca`, or self-signed). */
export function submissionCert(opts: SubmissionCertOptions): Resource {
  const { tls } = opts;
  const paths = { cert: SUBMISSION_PATHS.cert, key: SUBMISSION_PATHS.key };
  const ca = 'ca' in tls ? tls.ca : undefined;
  return {
    id: SUBMISSION_CERT_ID,
    notify: opts.notify,
    handler: false,
    writes: [paths.cert, paths.key],
    facts: () => [submissionCertFact.query(paths)],
    plan(facts: HostFacts): Change | NoChange {
      const have = facts.get(submissionCertFact, paths);
      const names = wantedNames(facts.os.fqdn, tls.names);
      const caCert = ca ? readCa(ca.cert) : undefined;
      const caName = caCert?.subject.replace(/\n/g, ', ');
      const now = Date.now();
      const why = reissueReason({ names, renewDays: tls.renewDays, ca: caCert }, have, now);
      if (!why) {
        const info = readCert(have.cert!);
        return {
          resourceId: SUBMISSION_CERT_ID,
          reason: `the certificate for ${info.names.join(', ')} (${caCert ? `issued by ${caName}` : 'self-signed'}) ${expiryText(info.notAfter, now)}; renewed under ${tls.renewDays} days`,
        };
      }
      const subject = `/CN=${names[0]}`;
      const steps = caCert
        ? [
            {
              label: 'make a new key and a certificate request on the host',
              command: script([...newKeyLines(), sh`openssl req -new -key "$new" -subj ${subject} -batch`]),
            },
            {
              label: `install the certificate issued by ${caName}`,
              // signed on the controller from the request the step before printed
              stdinFrom: (out: string) => issueCertificate(out, { caCert: ca!.cert, caKey: ca!.key, names, days: tls.days }),
              command: script(['umask 077', sh`new=${NEW_KEY}`, ...tmpCertLines(), 'cat > "$tmp"', ...installLines()]),
            },
          ]
        : [
            {
              label: 'make a new key and a self-signed certificate on the host',
              command: script([
                ...newKeyLines(),
                ...tmpCertLines(),
                // -config /dev/null: the extensions are these, whatever the host's openssl.cnf adds
                sh`openssl req -x509 -new -key "$new" -config /dev/null -subj ${subject} -days ${String(tls.days)} -out "$tmp"` +
                  sh` -addext ${`subjectAltName=${subjectAltName(names)}`} -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth`,
                ...installLines(),
              ]),
            },
          ];
      return {
        resourceId: SUBMISSION_CERT_ID,
        action: have.cert === null ? 'create' : 'update',
        summary: caCert
          ? `issue the submission certificate for ${names.join(', ')} from the CA ${caName} (${tls.days} days)`
          : `make a SELF-SIGNED submission certificate for ${names.join(', ')} (${tls.days} days; clients must pin it)`,
        reason: why,
        details: [
          `a new 2048-bit RSA key is made on the host, in ${paths.key} (root, 0600): it never leaves the host`,
          ...(caCert ? [`the controller signs its request with ${ca!.cert}'s key, which never leaves the controller`] : []),
          `${paths.cert} (0644) names ${names.join(', ')}`,
        ],
        steps,
        files: [{ path: paths.cert }, { path: paths.key, sensitive: true }],
        undo: [],
      };
    },
  };
}
