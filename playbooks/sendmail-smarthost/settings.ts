// The sendmail playbook's settings, validated when the inventory loads (unknown keys are errors).
import { Secret, z } from 'mailprov';
import { isDnsServer } from './dns-txt.ts';
import { AWS_REGION, M365_TENANT, PROVIDER_NAMES, presetOf, SIMPLE_PROVIDERS, type ProviderSetting } from './providers.ts';
import { RELAY_WIDENING_NAMES } from './relay-features.ts';
import type { SmtpPortProber } from './prober.ts';

const hostname = z
  .string()
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/,
    'a host name (letters, digits, dots, dashes; no port, no brackets)',
  );

/** Networks in access-map syntax: octet prefixes (192.168, 10.0.0.5), IPv6:..., or host names. */
const network = z
  .string()
  .regex(
    /^(IPv6:[0-9A-Fa-f:.]+|[0-9]{1,3}(\.[0-9]{1,3}){0,3}|[A-Za-z0-9.-]+)$/,
    'a network like 192.168, 10.0.0.5, IPv6:2001:db8 or a host name',
  );

const address = z.string().regex(/^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]+)$/, 'an IP address such as 127.0.0.1 or 0.0.0.0');

/**
 * A path written into the mc inside m4 quotes: m4 quotes (` and '), other quotes, whitespace and line
 * breaks would end the value or add lines of their own, and parentheses and commas would let m4 read
 * macro calls into it when sendmail.cf is built. Letters, digits and . _ + - @ = : ~ / only.
 */
const mcPath = z
  .string()
  .regex(
    /^\/[A-Za-z0-9._+@=:~/-]*$/,
    'an absolute path (starting with /) of letters, digits and . _ + - @ = : ~ / only: no spaces, line breaks, quotes, backticks, parentheses or commas',
  );

/** The SASL user, written into authinfo as "U:<user>": no line breaks or other control characters. */
const saslUser = z
  .string()
  .min(1)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'a user name without line breaks, tabs or other control characters');

/** A local part (root, www-data, _apt, first.last+tag): no whitespace, quotes or control characters, nothing makemap would split. */
const LOCAL_PART = '[A-Za-z0-9_.%+-]+';
const DOMAIN = '[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*';

/** A genericstable key, as sendmail looks it up: a user (root), a full address, or @domain. */
const genericsKey = z
  .string()
  .regex(new RegExp(`^(${LOCAL_PART}|(${LOCAL_PART})?@${DOMAIN})$`), 'a user (root), an address (root@host.example.org) or @domain');

/** The sender address a genericstable entry turns into. */
const mailAddress = z.string().regex(new RegExp(`^${LOCAL_PART}@${DOMAIN}$`), 'an address like ops@example.org');

/** An m4 name (a conf* option, a FEATURE): whether sendmail knows it is the lint's question. */
const m4Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a name of letters, digits and underscores, such as confMAX_MESSAGE_SIZE');

/** A FEATURE with its arguments, or just its name. */
const feature = z.union([m4Name, z.object({ name: m4Name, args: z.array(z.string()).default([]) }).strict()]);

/** SMTP AUTH to a smart host; the AUTH payloads carrying the password depend on the user: masked wherever it is revealed. */
const authSchema = z
  .object({
    user: saslUser,
    password: z.instanceof(Secret, { message: 'secret.env("NAME") or secret.file("path"), never the password itself' }),
    mechanisms: z
      .array(z.string().regex(/^[A-Z0-9-]+$/, 'an upper-case SASL mechanism name'))
      .min(1)
      .default(['PLAIN', 'LOGIN']),
  })
  .strict()
  .transform((auth) => ({ ...auth, password: auth.password.usedForSaslBy(auth.user) }));

/** A preset by name, or with what picks its host: `'gmail'`, `{ name: 'ses', region: 'eu-west-1' }`. */
const provider = z.union([
  z.enum(SIMPLE_PROVIDERS),
  z.object({ name: z.literal('ses'), region: z.string().regex(AWS_REGION, 'an AWS region such as eu-west-1') }).strict(),
  z
    .object({
      name: z.literal('microsoft-365-connector'),
      tenant: z.string().regex(M365_TENANT, "the tenant's part of <tenant>.mail.protection.outlook.com, such as contoso-com"),
    })
    .strict(),
]);

/** A submission user's name, as saslpasswd2 takes it and sasldblistusers2 prints it back. */
const submissionUser = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, "a user name of letters, digits and . _ + - (no @: the realm is the relay's)");

const privateKey = z.instanceof(Secret, { message: 'secret.file("path/to/key.pem"): the private key is a secret' });

/** A certificate mailprov makes per host (submission-cert.ts): its names, validity and renewal. */
const issued = {
  /** Names beside the host's FQDN (first, and the subject's CN): host names or IPv4 addresses. */
  names: z.array(z.union([hostname, z.string().regex(/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/)])).default([]),
  days: z.number().int().min(2).max(3650).default(365),
  /** Re-issued when fewer days than this are left. */
  renewDays: z.number().int().min(1).default(30),
};

/**
 * The submission daemon's certificate: pushed from the controller (`cert` + `key`), issued per host
 * by the operator's CA (`ca`), or self-signed per host (`selfSigned: true`, and only then: clients
 * must pin it). A pushed certificate that is self-signed needs `selfSigned: true` too.
 */
const submissionTls = z.union([
  z.object({ cert: z.string().min(1), key: privateKey, selfSigned: z.boolean().default(false) }).strict(),
  z.object({ ca: z.object({ cert: z.string().min(1), key: privateKey }).strict(), ...issued }).strict(),
  z.object({ selfSigned: z.literal(true), ...issued }).strict(),
]);

/**
 * Authenticated submission (MSA) for people outside relayFrom: port 587, STARTTLS, then SMTP AUTH
 * (PLAIN, LOGIN) against a sasldb of mailprov's own; relaying for an authenticated user only.
 */
const submissionSchema = z
  .object({
    port: z.number().int().min(1).max(65535).default(587),
    // users and their passwords (a sasldb of mailprov's own), or 'pam': the host's own users, through saslauthd
    users: z.union([
      z
        .record(submissionUser, z.instanceof(Secret, { message: 'secret.env("NAME") or secret.file("path"), never the password itself' }))
        .refine((u) => Object.keys(u).length > 0, 'at least one user'),
      z.literal('pam'),
    ]),
    tls: submissionTls,
    from: z.array(network).optional(),
    listen: z
      .array(z.string().regex(/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/, 'an IPv4 address such as 0.0.0.0'))
      .min(1)
      .default(['0.0.0.0']),
    realm: hostname.optional(),
  })
  .strict()
  // each password is the SASL secret of its user: the AUTH payloads carrying it are masked too
  .transform((s) => ({
    ...s,
    users:
      s.users === 'pam'
        ? ('pam' as const)
        : Object.fromEntries(Object.entries(s.users).map(([user, password]) => [user, password.usedForSaslBy(user)])),
  }));

export const sendmailSettingsSchema = z
  .object({
    provider: provider.optional().describe(
      `a provider preset (see [providers](../providers.md)): ${PROVIDER_NAMES.filter((n) => n !== 'ses' && n !== 'microsoft-365-connector')
        .map((n) => `\`'${n}'\``)
        .join(
          ', ',
        )}, \`{ name: 'ses', region }\` or \`{ name: 'microsoft-365-connector', tenant }\`. It fills \`smartHost\` and \`smartHostPort\`, checks the shape of \`auth\` (an error naming the field), and decodes the provider's replies in the probe, the test message and the queue report; settings given explicitly win`,
    ),
    smartHost: hostname.optional().meta({
      description: 'e.g. `smtp.gmail.com`; written as `[host]` (no MX lookup). Required unless `provider` names one',
      defaultText: "the provider's",
    }),
    smartHostPort: z.number().int().min(1).max(65535).optional().meta({
      description: '`RELAY_MAILER_ARGS` / `ESMTP_MAILER_ARGS` `TCP $h <port>`. Not 465: a lint error, see "Port 465" below',
      defaultText: "the provider's, else 587",
    }),
    /**
     * TLS to the smart host: 'verify' (the default) relays only over STARTTLS with a certificate that
     * verifies against the host's CA bundle and is for smartHost; 'encrypt' needs STARTTLS but checks
     * no certificate; 'none' uses STARTTLS when the server offers it (any certificate) and sends even
     * without TLS (AUTH in the clear only with allowPlaintextAuth).
     */
    smartHostTls: z
      .enum(['verify', 'encrypt', 'none'])
      .default('verify')
      .describe(
        "`'verify'`: sendmail relays to the smart host only over STARTTLS with a certificate that verifies against the host's CA bundle and whose CN is `smartHost` (`TLS_Srv:<smartHost> VERIFY:128+CN:<smartHost>` in `/etc/mail/access`; checked right after STARTTLS, before AUTH, so a server that fails never sees the password and the mail waits in the queue); `'encrypt'`: STARTTLS without certificate checks (`ENCR:128`); `'none'`: no requirement, but STARTTLS is still used when offered, as sendmail does. Both others are lint warnings; `'none'` with `auth` is a lint error unless `allowPlaintextAuth`",
      ),
    /**
     * With smartHostTls 'none' and auth, sendmail sends the password in the clear to a smart host
     * that offers AUTH without STARTTLS (or whose STARTTLS someone on the path removes). The lint
     * refuses that unless this says it is meant; `force` does not.
     */
    allowPlaintextAuth: z
      .boolean()
      .default(false)
      .describe(
        "with `smartHostTls: 'none'`, let the password go to a smart host that offers no STARTTLS (sendmail and the probe alike). Only this setting allows it, never `force`",
      ),
    /** Prove on every changing apply, from the host, that the smart host takes the credentials (no mail is sent). */
    probeSmartHost: z
      .boolean()
      .default(true)
      .describe('after every changing apply, prove from the host that the smart host takes the credentials (see below)'),
    auth: authSchema.optional().describe("`{ user, password: secret.env(...) or secret.file(...), mechanisms: ['PLAIN','LOGIN'] }`"),
    fallbackSmartHosts: z
      .array(
        z
          .object({
            smartHost: hostname,
            auth: authSchema.optional(),
            smartHostTls: z.enum(['verify', 'encrypt', 'none']).default('verify'),
          })
          .strict(),
      )
      .default([])
      .describe(
        "smart hosts tried in order when `smartHost` cannot be reached (sendmail's host list, `relay:[a]:[b]`), each `{ smartHost, auth?, smartHostTls? }` with its own AuthInfo line and TLS requirement (`'verify'` unless said), on `smartHostPort`; each is probed: one that cannot be reached is a warning while another of the list takes the relay, a refusal (credentials, TLS) fails the host",
      ),
    routes: z
      .record(
        hostname,
        z
          .object({
            smartHost: hostname,
            port: z.number().int().min(1).max(65535).optional(),
            auth: authSchema.optional(),
            smartHostTls: z.enum(['verify', 'encrypt', 'none']).default('verify'),
          })
          .strict(),
      )
      .default({})
      .describe(
        "per-destination routes: `{ 'corp.example': { smartHost, port?, auth?, smartHostTls? } }`, mail to that domain (and its subdomains) goes to its own smart host through `FEATURE(mailertable)` (`/etc/mail/mailertable`, hashed with makemap), with its own AuthInfo line and TLS requirement, and is probed like `smartHost`; `port` is `smartHostPort` (the relay mailer) or 25 (the smtp mailer), the two ports sendmail's mailers take here",
      ),
    /**
     * `plan --probe` looks up the sender domain's SPF and DMARC records from the controller: does
     * SPF authorise the provider, is there a DMARC record. 'warn' (the default) reports what to
     * publish; 'require' fails the host instead; 'off' looks nothing up.
     */
    senderAuthentication: z
      .object({
        check: z.enum(['warn', 'require', 'off']).default('warn'),
        dnsServers: z
          .array(z.string().refine(isDnsServer, 'a DNS server address: 192.0.2.53, 192.0.2.53:5353, 2001:db8::53 or [2001:db8::53]:5353'))
          .min(1)
          .optional(),
      })
      .strict()
      .default({ check: 'warn' })
      .describe(
        "`{ check: 'warn' | 'require' | 'off', dnsServers? }`: `plan --probe` looks up, from the controller, the SPF record of the sender domain (the envelope sender as it will leave: `verify.from` or root at the host, rewritten by `masquerade` or `genericsTable`) and the DMARC record of the header From's, and says what to publish: SPF must authorise the provider's include (`include:amazonses.com`...), through includes and redirects within SPF's 10 DNS lookups (see [providers](../providers.md#the-sender-domain-spf-and-dmarc)). `'warn'` reports, `'require'` fails the host instead, `'off'` looks nothing up. `dnsServers` (`['192.0.2.53', '[2001:db8::53]:5353']`) are asked instead of `MAILPROV_DNS_SERVERS`, else the system's",
      ),
    submission: submissionSchema
      .optional()
      .describe(
        "authenticated submission for people outside `relayFrom` (see \"Submission for roaming users\"): `{ port: 587, users: { alice: secret.env('ALICE_PW') }, tls: { cert: 'certs/relay.pem', key: secret.file('certs/relay.key') }, from?: ['10.8'], listen?: ['0.0.0.0'], realm? }`. A daemon on `port` (`M=Ea`: AUTH required), AUTH (PLAIN, LOGIN) offered only after STARTTLS (`confAUTH_OPTIONS` `p`), users in `/etc/mail/sasldb2` set with `saslpasswd2` reading the password on stdin; `tls` is pushed (`{ cert, key, selfSigned? }`: `cert` a path on the controller, `key` a secret), issued per host by your CA (`{ ca: { cert, key }, names?, days?: 365, renewDays?: 30 }`: the key made on the host, the request signed on the controller) or self-signed per host (`{ selfSigned: true, names?, days?, renewDays? }`), see \"The submission certificate\"; `from` (networks as in `relayFrom`, default anywhere) is who the firewall lets reach the port; `listen`, the IPv4 addresses the daemon accepts on (default every one); `realm` defaults to the host's FQDN. `users: 'pam'` takes the host's own users instead, through `saslauthd` with PAM (installed, enabled and started; see \"Submission for the host's PAM users\"). With submission, port 25 offers no AUTH (`M=A`): AUTH is on `port` alone",
      ),
    localDomain: hostname.optional().describe('`LOCAL_DOMAIN(...)`'),
    relayFrom: z
      .array(network)
      .default([])
      .describe(
        'networks allowed to relay: `Connect:<net> RELAY` in `/etc/mail/access`; octet prefixes (`192.168`, `10.0.0.5`), `IPv6:` group prefixes or addresses (`IPv6:fd00`), or domains; each must lie inside a private range (see the lint below)',
      ),
    /** relayFrom may reach beyond the private ranges (a public network, a domain): a deliberate choice, never the default. */
    allowPublicRelayFrom: z
      .boolean()
      .default(false)
      .describe(
        'let `relayFrom` reach beyond the private ranges (a public network, a domain): said on purpose, since every client there may relay through the host to anywhere; the lint still warns',
      ),
    /** Default: every address when relayFrom names networks (a LAN relay), else loopback only. */
    listen: z.array(address).min(1).optional().meta({
      description:
        "addresses the MTA accepts on (port 25), IPv4 and IPv6 (`::1`, `2001:db8::25`, `::` for all): `['0.0.0.0']` (all IPv4) when `relayFrom` names networks (the seed's LAN relay), else `['127.0.0.1']` (a relay for the host's own mail). See \"IPv6\" below",
      defaultText: 'derived',
    }),
    /** Default: open when relayFrom names networks (others must reach port 25), else leave the firewall alone. */
    openSmtpPort: z.boolean().optional().meta({
      description:
        "TCP 25 opened in the firewall that decides on the host (firewalld, ufw, a native nftables ruleset, else iptables and ip6tables when `listen` has an IPv6 address, inserted before any REJECT, saved for boot), each its own way and marked as mailprov's: by default when `relayFrom` names networks, else the firewall is left alone. Set by hand, it wins; opening port 25 while listening on loopback only is a lint warning",
      defaultText: 'derived',
    }),
    /**
     * Who the opened port 25 admits: 'relayFrom' (the default: the networks relayFrom names, IPv4
     * and IPv6, in whichever firewall decides) or 'everyone' (a host that also receives mail from
     * outside). The access map stays the second line either way.
     */
    smtpPortFrom: z
      .enum(['relayFrom', 'everyone'])
      .default('relayFrom')
      .describe(
        "who the opened port 25 admits: `'relayFrom'`, the networks `relayFrom` names (IPv4 and IPv6; a family it names none of stays shut), in whichever firewall decides, each rule marked as mailprov's so that a change of `relayFrom` replaces exactly mailprov's old ones (iptables and ip6tables: a rule per network; firewalld: a rich rule per network, marked `priority=\"25\"`); `'everyone'` for a host that also receives mail from outside (the plan says so). The access map stays the second line either way",
      ),
    /**
     * After apply, prove port 25 reachable from inside relayFrom: the prober (controllerProbe(), or
     * one of the inventory's own) connects to `address` (default: what the prober knows, else the one
     * specific address sendmail listens on). Shut, the apply fails and the host is rolled back.
     */
    smtpPortProbe: z
      .object({
        prober: z.custom<SmtpPortProber>(
          (v) => typeof v === 'object' && v !== null && typeof (v as SmtpPortProber).connect === 'function',
          'a prober: controllerProbe(), or { name, connect(address, port) }',
        ),
        address: address.optional(),
      })
      .strict()
      .optional()
      .describe(
        '`{ prober, address? }`: after apply, prove port 25 reachable from inside `relayFrom` (`controllerProbe()` when the controller sits there, or a prober of your own: `{ name, connect(address, port) }`); shut, the apply fails naming the firewall and the host is rolled back',
      ),
    mc: z
      .union([z.object({ text: z.string().min(1) }).strict(), z.object({ path: z.string().min(1) }).strict()])
      .optional()
      .meta({ description: '`{ text }` or `{ path }`: your own sendmail.mc instead', defaultText: 'generated' }),
    trustedCa: mcPath.optional().meta({
      description:
        '`confCACERT`: an absolute path of letters, digits and `. _ + - @ = : ~ /` (nothing that could end the m4 value or add lines)',
      defaultText: "the distro's bundle",
    }),
    verify: z
      .object({ recipient: z.string().email(), from: z.string().email().optional() })
      .strict()
      .optional()
      .describe('`{ recipient, from? }`: where the post-apply test message goes'),
    /**
     * Sender rewriting for mail leaving through the smart host (MASQUERADE_AS): headers always, the
     * envelope too unless envelope is false, recipients with `recipients` (FEATURE(allmasquerade)).
     */
    masquerade: z
      .object({
        as: hostname,
        envelope: z.boolean().default(true),
        recipients: z.boolean().default(false),
        domains: z.array(hostname).default([]),
        exceptions: z.array(hostname).default([]),
      })
      .strict()
      .optional()
      .describe(
        'rewrite the sender of mail leaving through the smart host (see "Sender rewriting"): `{ as: \'example.org\', envelope: true, recipients: false, domains: [], exceptions: [] }`; `as` is `MASQUERADE_AS`, `envelope` (default true) adds `FEATURE(masquerade_envelope)`, `recipients` adds `FEATURE(allmasquerade)`, `domains` are `MASQUERADE_DOMAIN`s (other domains to rewrite too), `exceptions` `MASQUERADE_EXCEPTION`s (left as they are)',
      ),
    /** Per-user sender addresses (FEATURE(genericstable)): { root: 'ops@example.org' }. */
    genericsTable: z
      .record(genericsKey, mailAddress)
      .refine((t) => Object.keys(t).length > 0, 'at least one entry')
      .optional()
      .describe(
        "per-user sender addresses, `FEATURE(genericstable)`: `{ root: 'ops@example.org', 'www-data': 'web@example.org' }`; keys are users, addresses or `@domain`, values addresses; written to `/etc/mail/genericstable` (0644) and hashed with makemap",
      ),
    /** Domains whose addresses the genericstable rewrites (GENERICS_DOMAIN); default: the host's FQDN. */
    genericsDomains: z
      .array(hostname)
      .min(1)
      .optional()
      .meta({ description: '`GENERICS_DOMAIN`s: the domains whose addresses `genericsTable` rewrites', defaultText: "the host's FQDN" }),
    /** Extra sendmail options: define(`confNAME', `value') for conf* names of cf/README. */
    defines: z
      .record(m4Name, z.union([z.string(), z.number().int(), z.boolean()]))
      .default({})
      .describe(
        "extra sendmail options, one `define` each: `{ confMAX_MESSAGE_SIZE: 10485760, confTO_QUEUEWARN: '4h', confSEVEN_BIT_INPUT: false }`; names are the `conf*` options of sendmail's cf/README, values a string, an integer or a boolean (`True`/`False`) (see \"Extra knobs\")",
      ),
    /** Extra FEATUREs: 'nouucp' or { name: 'nouucp', args: ['reject'] }. */
    features: z
      .array(feature)
      .default([])
      .describe(
        "extra `FEATURE`s: `['always_add_domain', { name: 'nouucp', args: ['reject'] }]`; names are the FEATUREs of cf/README. The relay-widening ones (`promiscuous_relay`, `relay_entire_domain`, `relay_based_on_MX`, `relay_local_from`, `relay_mail_from`, `loose_relay_check`) are errors, here and in your own `mc`, unless `allowRelayFeatures` names each",
      ),
    /**
     * Relay-widening FEATUREs (relay-features.ts: promiscuous_relay, relay_mail_from, ...) this
     * relay is meant to have, each by name; any other one in `features` or the mc is refused.
     */
    allowRelayFeatures: z
      .array(z.enum(RELAY_WIDENING_NAMES as [string, ...string[]]))
      .default([])
      .describe('relay-widening FEATUREs you mean to use, each by name (then a warning); `force` never allows them'),
    /**
     * The package step: `recommends` installs what sendmail's packages recommend too (default: only
     * what they depend on); `allowRemove` names packages the install may remove besides the MTA it
     * replaces (default: none, any other removal is refused); `refuseUpgrades` refuses an install
     * that upgrades an installed package; `lockWaitSeconds`: how long to wait for another process
     * holding the package manager's lock.
     */
    packages: z
      .object({
        recommends: z.boolean().default(false),
        allowRemove: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/, 'a package name')).default([]),
        refuseUpgrades: z.boolean().default(false),
        lockWaitSeconds: z.number().int().min(0).max(86400).default(600),
      })
      .strict()
      .default({ recommends: false, allowRemove: [], refuseUpgrades: false, lockWaitSeconds: 600 })
      .describe(
        "the package step. `recommends`: also install what sendmail's packages recommend (default: only what they depend on; the plan names what was left out); `allowRemove`: packages the install may remove besides the MTA sendmail replaces (any other removal is refused); `refuseUpgrades`: refuse an install that upgrades an installed package; `lockWaitSeconds`: how long to wait for another process holding the package manager's lock (its holder is named)",
      ),
    force: z
      .boolean()
      .default(false)
      .describe(
        'apply even when the lint finds errors about the mc (validation on the host still runs); never with a value that would inject into the mc or a map, an unreadable secret, a define or FEATURE mailprov writes itself, nor a `relayFrom` that is no network or a public one',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.smartHost && !s.provider)
      ctx.addIssue({ code: 'custom', path: ['smartHost'], message: 'a host name, or a provider that names one' });
    if (s.provider) for (const issue of providerIssues(s.provider, s.auth)) ctx.addIssue({ code: 'custom', ...issue });
  })
  // defaults that agree with each other: a relay for other hosts listens on every address and opens
  // port 25; a relay for this host alone listens on loopback and leaves the firewall as it is
  .transform((s) => {
    const lan = s.relayFrom.length > 0;
    const preset = s.provider ? presetOf(s.provider) : undefined;
    return {
      ...s,
      // explicit settings win over the preset
      smartHost: (s.smartHost ?? preset?.host) as string,
      smartHostPort: s.smartHostPort ?? preset?.port ?? 587,
      listen: s.listen ?? [lan ? '0.0.0.0' : '127.0.0.1'],
      openSmtpPort: s.openSmtpPort ?? lan,
      features: s.features.map((f) => (typeof f === 'string' ? { name: f, args: [] } : f)),
    };
  });

/**
 * What a provider asks of `auth` that a schema can see before any secret is read: present or absent,
 * and the user's shape (SendGrid's literal `apikey`). The password's shape is lint (lint.ts).
 */
function providerIssues(p: ProviderSetting, auth: { user: string } | undefined): { path: string[]; message: string }[] {
  const preset = presetOf(p);
  if (preset.auth === 'required' && !auth)
    return [{ path: ['auth'], message: `${preset.title} takes mail only with SMTP AUTH: { user, password: secret.env(...) }` }];
  if (preset.auth === 'none' && auth)
    return [
      {
        path: ['auth'],
        message: `no auth: ${preset.title} authorises the relay by its IP address (or certificate) and takes no SMTP AUTH on port ${preset.port}`,
      },
    ];
  if (auth && preset.user && !preset.user.test(auth.user))
    return [{ path: ['auth', 'user'], message: `${preset.user.expected} for ${preset.title}, not "${auth.user}"` }];
  return [];
}

export type SendmailSettings = z.output<typeof sendmailSettingsSchema>;
export type SendmailSettingsInput = z.input<typeof sendmailSettingsSchema>;

export interface Distro {
  family: 'debian' | 'rhel';
  major: number;
}
