// Lint for sendmail settings and sendmail.mc text, run before connecting: the mistakes that make
// `make` and the init script exit 0 while installing a broken sendmail.cf, and the ones that make
// mail silently go nowhere (SENDMAIL.md, "Pitfalls seen in the wild"). Each check is a named
// function; the m4 scanner is in m4.ts, the relayFrom checks in relay-from.ts, the sender rewriting
// checks in sender-lint.ts, the defines/features names in knobs.ts, the values written into the mc
// in mc-values.ts.
import type { Finding } from 'mailprov';
import { lintKnobs } from './knobs.ts';
import { isV6 } from './listen.ts';
import { scanMc } from './m4.ts';
import { lintFeatureArgs, lintValues } from './mc-values.ts';
import { lintRelayFrom } from './relay-from.ts';
import { renderMc, routeList, smartHostList } from './render.ts';
import { lintProvider } from './provider-lint.ts';
import { lintSenderAuthentication } from './sender-auth-probe.ts';
import { lintGenericsDomains, lintSender } from './sender-lint.ts';
import type { Distro, SendmailSettings } from './settings.ts';

export type { Finding };

/**
 * What `force` never downgrades to a warning: a value that would inject text into the mc or a map
 * (whatever the user meant, the file would not say it), a define or FEATURE mailprov writes itself
 * (the second would silently override the setting meant for it), a secret that cannot be read
 * (there would be nothing to write), and a relayFrom entry that is no network or a public one (an
 * open relay is not a matter of taste; allowPublicRelayFrom, said on purpose, is the only way past
 * the latter). `force` is for findings about what a valid mc means.
 */
export const UNFORCEABLE = new Set([
  'apostrophe-in-value',
  'line-break-in-value',
  'm4-macro-in-value',
  'feature-argument',
  'reserved-define',
  'reserved-feature',
  'secret-missing',
  'relay-from-invalid',
  'relay-from-public',
  'implicit-tls-port',
  'plaintext-auth',
  // the submission certificate: self-signed only by its own setting, never an expired one or one
  // that is not for its key (TLS would fail, and AUTH with it)
  'submission-self-signed',
  'submission-cert',
  'submission-cert-expired',
  'submission-ca',
]);

/**
 * Port 465 is SMTPS: TLS from the first byte (RFC 8314). sendmail 8.17 (Debian bookworm, and the
 * CentOS-like sandbox's build of it) has it only as a server: DaemonPortOptions Modifier=s (op.me,
 * RELEASE_NOTES 8.13.0). Its SMTP mailers connect in plain text, wait for the greeting and can only
 * upgrade with STARTTLS (tls_clt_features runs "right before sendmail issues the STARTTLS command");
 * no mailer flag, ClientPortOptions modifier or FFR of the binary starts TLS on connect. Against
 * 465 both sides would wait for the other until the connection times out, and mail stays queued.
 * Nothing makes that work, so `force` does not downgrade it.
 */
const IMPLICIT_TLS =
  'port 465 is SMTPS (implicit TLS from the first byte), which sendmail 8.17 cannot speak as a client: its SMTP mailers connect in plain text and upgrade only with STARTTLS (implicit TLS is a daemon-side option, DaemonPortOptions Modifier=s), so sendmail would wait for a greeting the server never sends and every message would stay queued; use port 587 with STARTTLS (smartHostPort: 587, the default), which Gmail and the other submission services offer';

/** With `force`, every finding that can be forced becomes a warning, marked "(forced)". */
export function applyForce(findings: Finding[], force: boolean): Finding[] {
  if (!force) return findings;
  return findings.map((f) =>
    UNFORCEABLE.has(f.code) || f.level !== 'error' ? f : { ...f, level: 'warning' as const, message: `${f.message} (forced)` },
  );
}

export function lintMc(text: string, distro?: Distro): Finding[] {
  const findings = scanMc(text);
  for (const [i, line] of text.split('\n').entries()) {
    const m = /^\s*include\(`?(\/etc\/mail\/m4\/[^')]+)/.exec(line);
    if (m) {
      findings.push({
        level: 'warning',
        code: 'include-may-be-missing',
        line: i + 1,
        message: `line ${i + 1}: include(${m[1]}) makes m4 fail if the file is missing; use sinclude() for optional files`,
      });
    }
  }
  const smart = /define\(\s*`SMART_HOST'\s*,\s*`?([^')]*)'?\s*\)/.exec(text);
  if (smart) {
    const value = smart[1].trim();
    const bare = value.replace(/^\[|\]$/g, '');
    // a mailer and a host list ("relay:[a]:[b]", failover): each host of the list in brackets
    const list = /^[A-Za-z0-9_]+:(\[.*)$/.exec(value)?.[1].match(/\[[^\]]*\]|[^:]+/g);
    if (list) {
      for (const host of list.filter((h) => !h.startsWith('[')))
        findings.push({
          level: 'warning',
          code: 'smart-host-mx-lookup',
          message: `SMART_HOST "${value}": ${host} without brackets makes sendmail look up MX records; write [${host}]`,
        });
    } else if (/^[^[\]]*:\d+$/.test(value) || (/:\d+$/.test(bare) && !bare.startsWith('IPv6:'))) {
      findings.push({
        level: 'error',
        code: 'smart-host-port-in-name',
        message: `SMART_HOST "${value}": a colon separates a host list, not a port; set the port with RELAY_MAILER_ARGS \`TCP $h 587'`,
      });
    } else if (!value.startsWith('[')) {
      findings.push({
        level: 'warning',
        code: 'smart-host-mx-lookup',
        message: `SMART_HOST "${value}" without brackets makes sendmail look up MX records; write [${value}]`,
      });
    }
  }
  // a user's mc that points a mailer at 465 by hand
  const args = /define\(\s*`?((?:RELAY|ESMTP|SMTP|SMTP8|DSMTP)_MAILER_ARGS)'?\s*,\s*`?\s*TCP\s+\$h\s+(465|smtps)\b/.exec(text);
  if (args) findings.push({ level: 'error', code: 'implicit-tls-port', message: `${args[1]} \`TCP $h ${args[2]}': ${IMPLICIT_TLS}` });
  if (!/MAILER\(\s*`?smtp'?\s*\)/.test(text)) {
    findings.push({ level: 'error', code: 'no-smtp-mailer', message: "the mc has no MAILER(`smtp'): sendmail could not relay anything" });
  }
  if (distro) findings.push(...lintMcForDistro(text, distro));
  return findings;
}

/** An mc written for one distro's sendmail-cf does not build on the other's (needs the host's facts). */
export function lintMcForDistro(text: string, distro: Distro): Finding[] {
  const findings: Finding[] = [];
  const debianMc = /\/usr\/share\/sendmail\/cf\/|OSTYPE\(`?debian/.test(text);
  const rhelMc = /\/usr\/share\/sendmail-cf\/|OSTYPE\(`?linux/.test(text);
  if (distro.family === 'rhel' && debianMc) {
    findings.push({
      level: 'error',
      code: 'wrong-distro-mc',
      message: 'a Debian-style mc (Debian cf path / OSTYPE(debian)) does not build on RHEL: use /usr/share/sendmail-cf and OSTYPE(linux)',
    });
  }
  if (distro.family === 'debian' && rhelMc) {
    findings.push({
      level: 'error',
      code: 'wrong-distro-mc',
      message:
        'a RHEL-style mc (/usr/share/sendmail-cf, OSTYPE(linux)) does not build on Debian: use /usr/share/sendmail/cf and OSTYPE(debian)',
    });
  }
  return findings;
}

const isLoopback = (addr: string) => addr.startsWith('127.') || addr === '::1';
const domainOf = (address: string) => address.split('@').pop()?.toLowerCase() ?? '';
// class w matches whole host names only (R$+ < @ $=w . > $#local): no subdomains
const parentDomain = (host: string) => host.toLowerCase().split('.').slice(1).join('.');

export interface LintContext {
  distro: Distro;
  /** The host's FQDN, once facts are known. */
  hostFqdn?: string;
}

/** A user's own mc must read the access map, or the TLS requirement written there means nothing. */
export function lintUserMcTls(text: string, settings: Pick<SendmailSettings, 'smartHostTls'>): Finding[] {
  if (settings.smartHostTls === 'none' || /FEATURE\(\s*`?access_db/.test(text)) return [];
  return [
    {
      level: 'warning',
      code: 'tls-requirement-not-read',
      message:
        "the mc has no FEATURE(`access_db'): sendmail never reads the TLS_Srv requirement mailprov writes to /etc/mail/access, so TLS to the smart host is not enforced",
    },
  ];
}

/**
 * Every settings check, in the order their findings are reported (the generated mc last), once.
 * Those marked `host` need the host's facts (its name, its distro); the others run before
 * connecting too, with `ctx.distro` unknown: the generated mc is then rendered for Debian 12 as a
 * stand-in and checked without a distro.
 */
const SETTINGS_CHECKS: { host?: true; run: (settings: SendmailSettings, ctx: Partial<LintContext>) => Finding[] }[] = [
  { run: lintValues },
  { run: lintRelayFrom },
  { run: lintFeatureArgs },
  { run: lintKnobs },
  { run: lintSender },
  { host: true, run: (s, ctx) => lintGenericsDomains(s, ctx.hostFqdn) },
  { run: lintLocalDomain },
  { run: lintListen },
  { run: lintSmartHostConnection },
  { run: lintPlaintextAuth },
  { run: lintFallbacks },
  { run: lintRoutes },
  { run: lintProvider },
  { run: lintSenderAuthentication },
  { host: true, run: (_s, ctx) => lintHostName(ctx) },
  { run: (s, ctx) => lintGeneratedMc(s, ctx.distro ?? STAND_IN_DISTRO, ctx.distro) },
];

/** Every settings check, with the host's facts. */
export function lintSettings(settings: SendmailSettings, ctx: LintContext): Finding[] {
  return SETTINGS_CHECKS.flatMap((c) => c.run(settings, ctx));
}

/** What the playbook checks before connecting: every settings check that needs no host. */
export function lintSettingsBeforeConnecting(settings: SendmailSettings): Finding[] {
  return SETTINGS_CHECKS.filter((c) => !c.host).flatMap((c) => c.run(settings, {}));
}

/**
 * The settings checks that need the host's facts, run once they are known (the distro-specific
 * checks of a user's own mc are lintMcForDistro's).
 */
export function lintSettingsForHost(settings: SendmailSettings, ctx: LintContext): Finding[] {
  return SETTINGS_CHECKS.filter((c) => c.host).flatMap((c) => c.run(settings, ctx));
}

const STAND_IN_DISTRO: Distro = { family: 'debian', major: 12 };

/** LOCAL_DOMAIN makes sendmail deliver a domain's mail locally: not the mail it is meant to relay. */
function lintLocalDomain(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  if (settings.localDomain) {
    const local = settings.localDomain.toLowerCase();
    const destinations = [settings.verify ? domainOf(settings.verify.recipient) : undefined].filter((d): d is string => !!d);
    for (const d of destinations) {
      if (local === d) {
        findings.push({
          level: 'error',
          code: 'local-domain-covers-destination',
          message: `LOCAL_DOMAIN(${settings.localDomain}) covers ${d}: mail to it would be delivered locally instead of relayed`,
        });
      }
    }
    if (local === settings.smartHost.toLowerCase() || local === parentDomain(settings.smartHost)) {
      findings.push({
        level: 'error',
        code: 'local-domain-covers-destination',
        message: `LOCAL_DOMAIN(${settings.localDomain}) covers the smart host ${settings.smartHost}: sendmail would treat it as itself`,
      });
    }
  }
  return findings;
}

/** Each listen address gets a daemon on port 25: they must not fight over it. */
function lintListen(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  if (settings.openSmtpPort && settings.listen.every(isLoopback)) {
    findings.push({
      level: 'warning',
      code: 'port-25-loopback-only',
      message: `port 25 is opened in the firewall but sendmail listens on ${settings.listen.join(', ')} only: other hosts still cannot connect (set listen, or openSmtpPort: false)`,
    });
  }
  const v4 = settings.listen.filter((a) => !isV6(a));
  const v6 = settings.listen.filter(isV6);
  for (const [any, addrs] of [
    ['0.0.0.0', v4],
    ['::', v6],
  ] as const) {
    if (new Set(addrs).size !== addrs.length || (addrs.includes(any) && addrs.length > 1)) {
      findings.push({
        level: 'error',
        code: 'listen-overlap',
        message: `listen ${addrs.join(', ')}: a duplicate, or ${any} next to other addresses, makes the second daemon fail to bind port 25`,
      });
    }
  }
  // `::` is dual-stack where bindv6only=0 (Linux's default; listen.ts): it takes IPv4 on every address
  const narrowV4 = v4.filter((a) => a !== '0.0.0.0');
  if (v6.includes('::') && narrowV4.length) {
    findings.push({
      level: 'error',
      code: 'listen-overlap',
      message: `listen ${settings.listen.join(', ')}: sendmail's daemon on :: is dual-stack on Linux (it does not set IPV6_V6ONLY) and takes IPv4 connections on every address, ${narrowV4.join(', ')} included, whose own daemon could not bind port 25; list IPv6 addresses instead of ::, or listen on 0.0.0.0 and ::`,
    });
  }
  return findings;
}

/** The connection to the smart host: mechanisms, port and TLS. */
function lintSmartHostConnection(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  if (settings.auth && !settings.auth.mechanisms.some((m) => m === 'PLAIN' || m === 'LOGIN')) {
    findings.push({
      level: 'warning',
      code: 'no-plain-login',
      message: `auth mechanisms ${settings.auth.mechanisms.join(' ')} include neither PLAIN nor LOGIN, which Gmail and most submission servers need`,
    });
  }
  if (settings.smartHostPort === 465) {
    findings.push({ level: 'error', code: 'implicit-tls-port', message: `smartHostPort 465: ${IMPLICIT_TLS}` });
  }
  if (settings.auth && settings.smartHostPort === 25) {
    findings.push({
      level: 'warning',
      code: 'auth-on-port-25',
      message: 'SMTP AUTH towards port 25: submission servers such as Gmail take AUTH on 587',
    });
  }
  if (settings.smartHostTls !== 'verify') {
    const what =
      settings.smartHostTls === 'encrypt'
        ? "smartHostTls 'encrypt': sendmail needs STARTTLS but checks no certificate, so anyone on the path can pose as the smart host and read the password"
        : "smartHostTls 'none': sendmail relays even without TLS, and sends the password in the clear to a server that offers AUTH without it";
    findings.push({
      level: 'warning',
      code: 'smart-host-tls-unverified',
      message: `${what} (use 'verify' unless the smart host is a legacy server)`,
    });
  }
  return findings;
}

/** Without a domain in its name, sendmail waits for DNS on every command. */
function lintHostName(ctx: Partial<LintContext>): Finding[] {
  if (ctx.hostFqdn === undefined || ctx.hostFqdn.includes('.')) return [];
  return [
    {
      level: 'error',
      code: 'unqualified-hostname',
      message: `host name "${ctx.hostFqdn}" has no domain: every sendmail command would stall 60 s (give the host an FQDN in /etc/hosts)`,
    },
  ];
}

/** The mc mailprov generates for `renderFor`, through the same checks as a user's own mc. */
function lintGeneratedMc(settings: SendmailSettings, renderFor: Distro, checkFor: Distro | undefined): Finding[] {
  if (settings.mc) return [];
  // the generated mc's port is smartHostPort, already told in the settings' words
  return lintMc(renderMc(settings, renderFor), checkFor).filter((f) => f.code !== 'implicit-tls-port');
}

/**
 * With smartHostTls 'none' the access map sets no TLS_Srv requirement: sendmail starts TLS when the
 * server offers STARTTLS and otherwise goes on in the clear, AUTH included, so the password crosses
 * the network readable by anyone on the path (who can also strip STARTTLS from the EHLO reply). Only
 * allowPlaintextAuth, which says so by name, lets that through; `force` does not.
 */
export function lintPlaintextAuth(settings: Pick<SendmailSettings, 'auth' | 'smartHostTls' | 'allowPlaintextAuth'>): Finding[] {
  if (!settings.auth || settings.smartHostTls !== 'none') return [];
  const what = `smartHostTls 'none' with auth: sendmail sends the password of ${settings.auth.user} in the clear to a smart host that does not offer STARTTLS, or whose STARTTLS someone on the path removes`;
  return [
    settings.allowPlaintextAuth
      ? { level: 'warning', code: 'plaintext-auth', message: `${what} (allowed by allowPlaintextAuth)` }
      : {
          level: 'error',
          code: 'plaintext-auth',
          message: `${what}; use smartHostTls 'verify' (or 'encrypt'), or set allowPlaintextAuth: true if a password in the clear is meant`,
        },
  ];
}

/** Each fallback smart host: once in the list, and held to the same TLS rules as smartHost. */
function lintFallbacks(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set([settings.smartHost.toLowerCase()]);
  for (const [i, f] of settings.fallbackSmartHosts.entries()) {
    const field = `fallbackSmartHosts[${i}]`;
    if (seen.has(f.smartHost.toLowerCase()))
      findings.push({
        level: 'error',
        code: 'smart-host-listed-twice',
        message: `${field}.smartHost ${f.smartHost} is already in the list: sendmail would try it twice, and its AuthInfo and TLS_Srv lines would clash`,
      });
    seen.add(f.smartHost.toLowerCase());
    findings.push(...lintExtraHostTls(field, f, settings));
  }
  return findings;
}

/** Each route: a port sendmail's mailers take, a host of its own (one AuthInfo line per host), TLS as for smartHost. */
function lintRoutes(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  const routes = routeList(settings);
  if (!routes.length) return [];
  const hosts = new Set(smartHostList(settings).map((h) => h.smartHost.toLowerCase()));
  if (settings.features.some((f) => f.name === 'mailertable'))
    findings.push({
      level: 'error',
      code: 'reserved-feature',
      message: "features: FEATURE(`mailertable') is what routes writes (/etc/mail/mailertable): use routes, not both",
    });
  for (const r of routes) {
    const field = `routes['${r.domain}']`;
    if (r.port !== undefined && r.port !== settings.smartHostPort && r.port !== 25)
      findings.push({
        level: 'error',
        code: 'route-port',
        message: `${field}.port ${r.port}: a route goes through the relay mailer (smartHostPort, ${settings.smartHostPort}) or the smtp mailer (25), the only ports sendmail's mailers take in the generated mc`,
      });
    if (hosts.has(r.smartHost.toLowerCase()))
      findings.push({
        level: 'error',
        code: 'smart-host-listed-twice',
        message: `${field}.smartHost ${r.smartHost} is already a smart host: sendmail keys AuthInfo and TLS_Srv by host name, so each route needs a host of its own`,
      });
    hosts.add(r.smartHost.toLowerCase());
    findings.push(...lintExtraHostTls(field, r, settings));
  }
  return findings;
}

/** A fallback's or a route's own host: TLS checked as for smartHost, AUTH never in the clear. */
function lintExtraHostTls(
  field: string,
  host: { smartHost: string; smartHostTls: SendmailSettings['smartHostTls']; auth?: SendmailSettings['auth'] },
  settings: SendmailSettings,
): Finding[] {
  const findings: Finding[] = [];
  if (host.smartHostTls !== 'verify')
    findings.push({
      level: 'warning',
      code: 'smart-host-tls-unverified',
      message: `${field}.smartHostTls '${host.smartHostTls}': the certificate of ${host.smartHost} is not checked, so anyone on the path can pose as it (use 'verify' unless it is a legacy server)`,
    });
  for (const p of lintPlaintextAuth({ auth: host.auth, smartHostTls: host.smartHostTls, allowPlaintextAuth: settings.allowPlaintextAuth }))
    findings.push({ ...p, message: `${field}: ${p.message}` });
  return findings;
}
