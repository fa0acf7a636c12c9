// What went wrong between a relay and its smart host, in one line of cause and one of remedy.
// The same causes are read from three places: the probe (structured), and the text of a test
// message's transcript, of the mail log or of a queued message's deferral reason (patterns).
import { decodeProviderReply, presetOf, type ProviderSetting } from './providers.ts';
import type { ProbeFailure } from './smtp-probe.ts';

export type CauseCode =
  | 'credentials-refused'
  | 'app-password-required'
  | 'starttls-required'
  | 'no-starttls'
  | 'certificate-untrusted'
  | 'certificate-name-mismatch'
  | 'certificate-expired'
  | 'tls-failed'
  | 'starttls-injection'
  | 'plaintext-auth-refused'
  | 'connection-refused'
  | 'connection-timed-out'
  | 'name-not-found'
  | 'network-unreachable'
  | 'refused-at-greeting'
  | 'no-auth-mechanism'
  | 'temporary-failure'
  | 'unknown';

export interface Diagnosis {
  /** A generic cause, or the id of the provider's own decoder (providers.ts) that read the reply. */
  code: CauseCode | (string & {});
  cause: string;
  remedy: string;
}

export interface DiagnoseContext {
  smartHost: string;
  port: number;
  user?: string;
  /** The CA bundle the relay verifies the smart host with. */
  caFile: string;
  /** The provider preset, whose own reply table is read before the generic causes. */
  provider?: ProviderSetting;
}

/** "cause; remedy": what a host's error line says. */
export const oneLine = (d: Diagnosis) => `${d.cause}; ${d.remedy}`;

function byCode(code: CauseCode, ctx: DiagnoseContext, detail = ''): Diagnosis {
  const at = `${ctx.smartHost}:${ctx.port}`;
  const said = detail ? ` (${detail})` : '';
  const table: Record<CauseCode, [string, string]> = {
    'credentials-refused': [
      `${at} refused the credentials of ${ctx.user ?? 'the configured user'}${said}`,
      'check auth.user and the password secret (a provider may also refuse a password after too many failed logins)',
    ],
    'app-password-required': [
      `${at} requires an application-specific password for ${ctx.user ?? 'the configured user'}${said}`,
      'with 2-step verification (Gmail), create an app password for this account and use it as the password secret',
    ],
    'starttls-required': [
      `${at} requires STARTTLS before AUTH${said}`,
      "set smartHostTls to 'verify' (the default), so that sendmail starts TLS before it authenticates",
    ],
    'no-starttls': [
      `${at} does not offer STARTTLS${said}`,
      'check smartHost and smartHostPort (submission on 587 offers STARTTLS); a middlebox that strips STARTTLS would also do this. ' +
        "The password is never sent without TLS unless smartHostTls is 'none' and allowPlaintextAuth is set",
    ],
    'certificate-untrusted': [
      `the certificate of ${at} is not trusted by this host's CA bundle ${ctx.caFile}${said}`,
      "update the host's CA certificates (ca-certificates), or set trustedCa to a bundle with the issuing CA; a proxy intercepting TLS would also do this",
    ],
    'certificate-name-mismatch': [
      `the certificate of ${at} is not for the name ${ctx.smartHost}${said}`,
      "set smartHost to the name the provider's certificate is for (for Gmail: smtp.gmail.com), not an address or an alias",
    ],
    'certificate-expired': [
      `the certificate of ${at} has expired or is not valid yet${said}`,
      "check the host's clock (date), then the provider",
    ],
    'tls-failed': [`TLS with ${at} failed${said}`, "check the host's OpenSSL and CA bundle, and that the port speaks SMTP with STARTTLS"],
    'starttls-injection': [
      `${at} sent more than its reply to STARTTLS before TLS began, as a man in the middle injecting replies would (CVE-2011-0411 class)${said}`,
      'the probe stopped before TLS and sent no password; check what sits on the path from this host to the smart host (a proxy, a middlebox, a hijacked route or DNS name), and tell the provider if the path is clean',
    ],
    'plaintext-auth-refused': [
      `${at} does not offer STARTTLS, so AUTH would send the password of ${ctx.user ?? 'the configured user'} in the clear${said}`,
      'use a smart host and port that offer STARTTLS (submission on 587), or set allowPlaintextAuth: true if a password in the clear is meant',
    ],
    'connection-refused': [
      `nothing accepts connections on ${at}${said}`,
      'check smartHost and smartHostPort (Gmail and most providers: 587)',
    ],
    'connection-timed-out': [
      `no answer from ${at}${said}`,
      `the network drops outbound port ${ctx.port} (cloud providers often block outbound SMTP): ask the provider to lift the block, or use a port or relay it allows`,
    ],
    'name-not-found': [
      `the name ${ctx.smartHost} does not resolve on this host${said}`,
      "check the spelling of smartHost and the host's DNS (/etc/resolv.conf)",
    ],
    'network-unreachable': [`this host has no route to ${at}${said}`, "check the host's routes and outbound firewall"],
    'refused-at-greeting': [
      `${at} refuses service for now${said}`,
      "the provider may be limiting this host's address: check its status page and the account, then try again",
    ],
    'no-auth-mechanism': [
      `${at} offers no AUTH mechanism the relay is configured for${said}`,
      'set auth.mechanisms to one the provider offers',
    ],
    'temporary-failure': [`${at} failed temporarily${said}`, 'try again later; if it persists, check the provider'],
    unknown: [`the smart host ${at} could not be used${said}`, 'see the server replies in the host log'],
  };
  const [cause, remedy] = table[code];
  return { code, cause, remedy };
}

/** The last reply line, e.g. "535 5.7.8 Username and Password not accepted". */
const lastLine = (reply?: string) => reply?.trim().split('\n').at(-1) ?? '';

const TLS_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
]);

/** A failed probe step, as a cause and remedy. */
export function diagnoseProbe(f: ProbeFailure, ctx: DiagnoseContext): Diagnosis {
  const reply = lastLine(f.reply);
  // the provider's table reads the whole reply (its code may sit on every line of a multi-line one)
  const decoded = f.reply ? byProvider(f.reply, ctx) : undefined;
  if (decoded) return decoded;
  if (f.reply) return diagnoseText(reply, ctx) ?? byCode(/^4/.test(reply) ? 'temporary-failure' : 'unknown', ctx, reply);
  switch (f.code) {
    case 'NO_STARTTLS':
      return byCode('no-starttls', ctx);
    case 'STARTTLS_INJECTION':
      return byCode('starttls-injection', ctx, f.detail);
    case 'PLAINTEXT_AUTH':
      return byCode('plaintext-auth-refused', ctx);
    case 'NO_MECHANISM':
      return byCode('no-auth-mechanism', ctx, f.detail);
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return byCode('certificate-name-mismatch', ctx, f.detail.replace(/^TLS with [^:]*: /, ''));
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return byCode('certificate-expired', ctx, f.code);
    case 'TIMEOUT':
      return byCode(f.step === 'greeting' ? 'connection-timed-out' : 'unknown', ctx, `${f.step}: ${f.detail}`);
  }
  if (f.code && TLS_UNTRUSTED.has(f.code)) return byCode('certificate-untrusted', ctx, f.code);
  if (f.step === 'tls') return byCode('tls-failed', ctx, f.detail);
  return byCode('unknown', ctx, `${f.step}: ${f.detail}`);
}

/** The host could not even connect (see tcpFromHost's kinds). */
export function diagnoseConnect(kind: string, detail: string, ctx: DiagnoseContext): Diagnosis {
  const code: Record<string, CauseCode> = {
    refused: 'connection-refused',
    dns: 'name-not-found',
    unreachable: 'network-unreachable',
    'timed-out': 'connection-timed-out',
  };
  return byCode(code[kind] ?? 'unknown', ctx, detail);
}

// What sendmail and servers write, first match wins: reply codes, then sendmail's own words (its
// tls_server ruleset, its deferral reasons in the queue and the mail log).
const PATTERNS: [RegExp, CauseCode][] = [
  [/\b534[ -]5\.7\.9\b/, 'app-password-required'],
  [/\b535[ -]/, 'credentials-refused'],
  [/\b530[ -]5\.7\.0\b/, 'starttls-required'],
  [/CN .* does not match|ERR_TLS_CERT_ALTNAME_INVALID|hostname mismatch/i, 'certificate-name-mismatch'],
  [/other side does not support STARTTLS|verify=NONE/, 'no-starttls'],
  [/4\.7\.0 authentication failed|verify=FAIL|unable to get local issuer|self.signed certificate/i, 'certificate-untrusted'],
  [/Connection refused/i, 'connection-refused'],
  [/Connection timed out|timed out while|Operation timed out/i, 'connection-timed-out'],
  [/Host unknown|host name lookup failure|Name or service not known|No such host|Name server timeout/i, 'name-not-found'],
  [/Network is unreachable|No route to host/i, 'network-unreachable'],
  [/(^|Deferred: |: )421[ -]/m, 'refused-at-greeting'],
];

/** The provider's own reading of a text, with the smart host and the reply it read. */
function byProvider(text: string, ctx: DiagnoseContext): Diagnosis | undefined {
  if (!ctx.provider) return undefined;
  const hit = decodeProviderReply(ctx.provider, text);
  if (!hit) return undefined;
  const line = hit.line.length > 160 ? `${hit.line.slice(0, 157)}...` : hit.line;
  const { title } = presetOf(ctx.provider);
  return {
    code: hit.decoder.id,
    cause: `${title} at ${ctx.smartHost}:${ctx.port} ${hit.decoder.cause} (${line})`,
    remedy: hit.decoder.remedy,
  };
}

/**
 * The first cause a text (a reply, a transcript, log lines, a deferral reason) shows, if any: the
 * provider's own table first, then the generic patterns.
 */
export function diagnoseText(text: string, ctx: DiagnoseContext): Diagnosis | undefined {
  const decoded = byProvider(text, ctx);
  if (decoded) return decoded;
  for (const [re, code] of PATTERNS) {
    const m = re.exec(text);
    if (m) {
      const line =
        text
          .split('\n')
          .find((l) => re.test(l))
          ?.trim() ?? m[0];
      return byCode(code, ctx, line.length > 160 ? `${line.slice(0, 157)}...` : line);
    }
  }
  return undefined;
}
