// Lint for sendmail settings and sendmail.mc text, run before connecting: the mistakes that make
// `make` and the init script exit 0 while installing a broken sendmail.cf, and the ones that make
// mail silently go nowhere (SENDMAIL.md, "Pitfalls seen in the wild").
import type { Finding } from 'mailprov';
import { CF_MACROS } from './cf-names.ts';
import { lintKnobs } from './knobs.ts';
import { isPrivateNet, parseRelayNet, type RelayNet } from './open-relay.ts';
import { isV6 } from './listen.ts';
import { renderMc } from './render.ts';
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

/**
 * Walks the mc as m4 reads it: `quotes' nest, # starts a comment outside quotes, and a `dnl`
 * outside quotes while an argument list is open swallows the rest of the line, closing paren
 * included. That is the classic one-line confPRIVACY_FLAGS mistake: m4 then fails with "end of file
 * in argument list" and sendmail.cf comes out truncated.
 */
function scanMc(text: string): Finding[] {
  const findings: Finding[] = [];
  let quote = 0;
  let parens = 0;
  let openedAt = 0;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const lineNo = i + 1;
    for (let j = 0; j < line.length; j++) {
      const ch = line[j];
      if (quote > 0) {
        if (ch === '`') quote++;
        else if (ch === "'") quote--;
        continue;
      }
      if (ch === '`') quote++;
      else if (ch === '#')
        break; // comment to end of line
      else if (ch === '(') {
        if (parens === 0) openedAt = lineNo;
        parens++;
      } else if (ch === ')' && parens > 0) parens--;
      else if (line.startsWith('dnl', j) && !/[A-Za-z0-9_]/.test(line[j - 1] ?? ' ') && !/[A-Za-z0-9_]/.test(line[j + 3] ?? ' ')) {
        // `dnl' at the end of a line inside a list is Debian's own continuation idiom
        // (define(`confPRIVACY_FLAGS',dnl + next line); only text it swallows is lost.
        if (parens > 0 && line.slice(j + 3).trim() !== '') {
          findings.push({
            level: 'error',
            code: 'dnl-in-arguments',
            line: lineNo,
            message: `line ${lineNo}: \`dnl' inside an argument list (opened on line ${openedAt}) deletes the rest of the line, closing parenthesis included: m4 fails with "end of file in argument list" and sendmail.cf is truncated`,
          });
          parens = 0; // report once per statement
        }
        break; // dnl eats the rest of the line
      }
    }
  }
  if (quote !== 0)
    findings.push({
      level: 'error',
      code: 'unbalanced-quotes',
      message: "the mc ends inside a `quoted string' (a backtick without its closing apostrophe)",
    });
  if (parens !== 0)
    findings.push({
      level: 'error',
      code: 'unbalanced-parens',
      line: openedAt,
      message: `the argument list opened on line ${openedAt} is never closed`,
    });
  return findings;
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
    if (/^[^[\]]*:\d+$/.test(value) || (/:\d+$/.test(bare) && !bare.startsWith('IPv6:'))) {
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
  if (distro) {
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
  }
  return findings;
}

/** GNU m4 builtins that run even without an argument list (the others need "name("). */
const M4_BARE_BUILTINS = new Set([
  'dnl',
  'divert',
  'undivert',
  'divnum',
  'changequote',
  'changecom',
  'm4exit',
  'traceon',
  'traceoff',
  'dumpdef',
  'sysval',
  '__file__',
  '__line__',
  '__program__',
  '__gnu__',
  '__unix__',
  'debugmode',
  'debugfile',
]);

/** GNU m4 builtins that run only when an argument list follows: `len(x)`, `define(a,b)`. */
const M4_CALL_BUILTINS = new Set([
  'builtin',
  'decr',
  'define',
  'defn',
  'errprint',
  'esyscmd',
  'eval',
  'format',
  'ifdef',
  'ifelse',
  'include',
  'incr',
  'index',
  'indir',
  'len',
  'm4wrap',
  'maketemp',
  'mkstemp',
  'patsubst',
  'popdef',
  'pushdef',
  'regexp',
  'shift',
  'sinclude',
  'substr',
  'syscmd',
  'translit',
  'undefine',
]);

/**
 * The words of a value that m4 would run when it reads the value again as it builds sendmail.cf:
 * builtins, the macros cf.m4 defines, and its naming schemes (internal `_NAMES_`, `conf...`
 * options, Debian's `sm_...`). m4 splits words as [A-Za-z_][A-Za-z0-9_]*, as this does.
 */
export function m4MacroWords(value: string): string[] {
  const words = new Set<string>();
  for (const m of value.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
    const w = m[0];
    const call = value[m.index + w.length] === '(';
    if (M4_BARE_BUILTINS.has(w) || CF_MACROS.has(w) || /^(_[A-Za-z_]|conf[A-Z]|sm_)/.test(w) || (call && M4_CALL_BUILTINS.has(w))) {
      words.add(w);
    }
  }
  return [...words];
}

const isLoopback = (addr: string) => addr.startsWith('127.') || addr === '::1';
const domainOf = (address: string) => address.split('@').pop()?.toLowerCase() ?? '';
// class w matches whole host names only (R$+ < @ $=w . > $#local): no subdomains
const parentDomain = (host: string) => host.toLowerCase().split('.').slice(1).join('.');

const isIpv6Loopback = (groups: number[]) => groups.join(':') === '0:0:0:0:0:0:0:1';

function publicReason(net: RelayNet): string {
  if (net.kind === 'ipv4') return 'reaches beyond the private ranges (10, 172.16 to 172.31, 192.168, 127, 169.254)';
  if (net.kind === 'ipv6') return 'reaches beyond the private ranges (fc00::/7, fe80::/10, ::1)';
  // a name is as private as whoever can publish reverse DNS under it: nothing the lint can check
  return 'is a domain: every client whose reverse DNS (forward-confirmed) is under it may relay, wherever it is';
}

/**
 * relayFrom becomes `Connect:<entry> RELAY`: an entry sendmail cannot match is an error, and so is
 * one that lets clients outside the private ranges relay, unless allowPublicRelayFrom says it is meant.
 */
export function lintRelayFrom(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  for (const [i, entry] of settings.relayFrom.entries()) {
    if (/[\x00-\x1f\x7f]/.test(entry)) continue; // reported as line-break-in-value
    const field = `relayFrom[${i}] ${JSON.stringify(entry)}`;
    const net = parseRelayNet(entry);
    if ('error' in net) {
      findings.push({ level: 'error', code: 'relay-from-invalid', message: `${field} is not a network sendmail can match: ${net.error}` });
      continue;
    }
    if (!isPrivateNet(net)) {
      findings.push(
        settings.allowPublicRelayFrom
          ? { level: 'warning', code: 'relay-from-public', message: `${field} ${publicReason(net)} (allowed by allowPublicRelayFrom)` }
          : {
              level: 'error',
              code: 'relay-from-public',
              message: `${field} ${publicReason(net)}: clients there could relay through this host to anywhere (set allowPublicRelayFrom: true if that is meant)`,
            },
      );
    }
    if (net.kind === 'ipv4' && net.octets.length === 4 && net.octets[3] === 0) {
      const network = net.octets.slice(0, 3).join('.');
      findings.push({
        level: 'warning',
        code: 'relay-from-single-address',
        message: `${field} is the one address ${entry}, not a network: write ${network} for ${network}.0/24`,
      });
    }
    // ::1 relays whichever way it is written (Relay_ok knows both forms)
    if (net.kind === 'ipv6' && entry.includes('::') && !isIpv6Loopback(net.groups)) {
      findings.push({
        level: 'warning',
        code: 'relay-from-ipv6-compressed',
        message: `${field} matches as text, and a sendmail built with IPV6_FULL (8.15 and later, Debian 12's 8.17 among them) writes client addresses in full, without "::": write the address in full (verification tries it)`,
      });
    }
  }
  return findings;
}

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

export function lintSettings(settings: SendmailSettings, ctx: LintContext): Finding[] {
  const findings: Finding[] = [];
  // m4 quotes are `...': a value cannot carry an apostrophe or a backtick
  const mcValues: [string, string | undefined][] = [
    ['smartHost', settings.smartHost],
    ['localDomain', settings.localDomain],
    ['trustedCa', settings.trustedCa],
    ...settings.listen.map((l, i): [string, string] => [`listen[${i}]`, l]),
    ...(settings.auth?.mechanisms ?? []).map((m, i): [string, string] => [`auth.mechanisms[${i}]`, m]),
    ...senderValues(settings),
    ...Object.entries(settings.defines)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .map(([name, v]): [string, string] => [`defines.${name}`, v]),
    ...settings.features.flatMap(({ args }, i) => args.map((a, j): [string, string] => [`features[${i}].args[${j}]`, a])),
  ];
  for (const [field, value] of mcValues) {
    if (value !== undefined && /['`]/.test(value)) {
      findings.push({
        level: 'error',
        code: 'apostrophe-in-value',
        message: `${field} "${value}" contains an apostrophe or backtick, which m4 quoting cannot carry`,
      });
    }
  }
  // A value is quoted once in the mc, and m4 reads it again where cf.m4 expands the macro holding it:
  // a word in it that m4 runs without arguments changes the cf (`/etc/ssl/dnl/ca.pem` deletes the
  // rest of its line, `m4exit` ends the file)
  for (const [field, value] of mcValues) {
    const words = value === undefined ? [] : m4MacroWords(value);
    if (words.length) {
      findings.push({
        level: 'error',
        code: 'm4-macro-in-value',
        message: `${field} "${value}" contains ${words.map((w) => `"${w}"`).join(', ')}, which m4 runs as a macro when it builds sendmail.cf`,
      });
    }
  }
  // The schema refuses these already; settings that reach here some other way are checked again,
  // since a line break in a value written into the mc or the access map adds lines of its own.
  const lineValues: [string, string | undefined][] = [
    ...mcValues,
    ...settings.relayFrom.map((n, i): [string, string] => [`relayFrom[${i}]`, n]),
    ...Object.entries(settings.genericsTable ?? {}).flatMap(([k, v]): [string, string][] => [
      [`genericsTable key ${JSON.stringify(k)}`, k],
      [`genericsTable.${k}`, v],
    ]),
  ];
  for (const [field, value] of lineValues) {
    if (value !== undefined && /[\x00-\x1f\x7f]/.test(value)) {
      findings.push({
        level: 'error',
        code: 'line-break-in-value',
        message: `${field} ${JSON.stringify(value)} contains a line break or another control character, which would add lines of its own to the file it is written into`,
      });
    }
  }
  findings.push(...lintRelayFrom(settings));
  findings.push(...lintFeatureArgs(settings), ...lintKnobs(settings), ...lintSender(settings, ctx));
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
  findings.push(...lintPlaintextAuth(settings));
  if (ctx.hostFqdn !== undefined && !ctx.hostFqdn.includes('.')) {
    findings.push({
      level: 'error',
      code: 'unqualified-hostname',
      message: `host name "${ctx.hostFqdn}" has no domain: every sendmail command would stall 60 s (give the host an FQDN in /etc/hosts)`,
    });
  }
  // the generated mc's port is smartHostPort, already told above in the settings' words
  if (!settings.mc) findings.push(...lintMc(renderMc(settings, ctx.distro), ctx.distro).filter((f) => f.code !== 'implicit-tls-port'));
  return findings;
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

/** The values sender rewriting writes into the mc, with the field each comes from. */
function senderValues(settings: SendmailSettings): [string, string][] {
  const m = settings.masquerade;
  return [
    ...(m
      ? [
          ['masquerade.as', m.as] as [string, string],
          ...m.domains.map((d, i): [string, string] => [`masquerade.domains[${i}]`, d]),
          ...m.exceptions.map((d, i): [string, string] => [`masquerade.exceptions[${i}]`, d]),
        ]
      : []),
    ...(settings.genericsDomains ?? []).map((d, i): [string, string] => [`genericsDomains[${i}]`, d]),
  ];
}

/**
 * A FEATURE's arguments reach m4 again inside the feature's own macro calls, unquoted: a comma
 * there splits one argument in two, and a parenthesis closes (or opens) an argument list.
 */
function lintFeatureArgs(settings: SendmailSettings): Finding[] {
  return settings.features.flatMap(({ name, args }, i) =>
    args
      .map((a, j) => ({ a, j }))
      .filter(({ a }) => /[,()]/.test(a))
      .map(
        ({ a, j }): Finding => ({
          level: 'error',
          code: 'feature-argument',
          message: `features[${i}].args[${j}] ${JSON.stringify(a)} of FEATURE(${name}) contains a comma or a parenthesis, which m4 reads as argument syntax when the feature uses it (give each argument as its own element)`,
        }),
      ),
  );
}

/** Sender rewriting that would not do what it says. */
function lintSender(settings: SendmailSettings, ctx: LintContext): Finding[] {
  const findings: Finding[] = [];
  if (settings.mc) {
    const ignored = [
      settings.masquerade && 'masquerade',
      settings.genericsDomains && 'genericsDomains',
      Object.keys(settings.defines).length > 0 && 'defines',
      settings.features.length > 0 && 'features',
    ].filter((k): k is string => typeof k === 'string');
    if (ignored.length) {
      findings.push({
        level: 'error',
        code: 'ignored-with-own-mc',
        message: `${ignored.join(', ')} shape the generated mc, and mc replaces it: put them into your own mc instead`,
      });
    }
  }
  if (settings.genericsTable && settings.masquerade && !settings.masquerade.envelope) {
    findings.push({
      level: 'warning',
      code: 'generics-envelope-off',
      message:
        'masquerade.envelope is false, so the genericsTable rewrites header senders only: FEATURE(masquerade_envelope) governs both, and the smart host sees the original envelope sender',
    });
  }
  const fqdn = ctx.hostFqdn?.toLowerCase();
  if (settings.genericsTable && settings.genericsDomains && fqdn && !settings.genericsDomains.some((d) => d.toLowerCase() === fqdn)) {
    findings.push({
      level: 'warning',
      code: 'generics-domain-misses-host',
      message: `genericsDomains (${settings.genericsDomains.join(', ')}) leaves out ${ctx.hostFqdn}: mail submitted on this host is addressed from user@${ctx.hostFqdn}, which the genericsTable then does not rewrite`,
    });
  }
  return findings;
}
