// The providers a relay sends through (issue 27): each preset fills smartHost, its port, TLS and
// what AUTH it takes, says what shape its credentials have, and decodes its own reply codes into
// one line of cause and remedy. Explicit settings win over a preset; the generic causes of
// diagnose.ts stay behind the provider's own table.

/** The providers with no parameter. */
export const SIMPLE_PROVIDERS = [
  'gmail',
  'google-workspace-relay',
  'microsoft-365',
  'sendgrid',
  'mailgun',
  'mailgun-eu',
  'postmark',
] as const;
export const PROVIDER_NAMES = [...SIMPLE_PROVIDERS, 'microsoft-365-connector', 'ses'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** The `provider` setting: a name, or a name with what picks its host (SES's region, the tenant's connector). */
export type ProviderSetting =
  | (typeof SIMPLE_PROVIDERS)[number]
  | { name: 'ses'; region: string }
  | { name: 'microsoft-365-connector'; tenant: string };

/** An AWS region as SES names its SMTP endpoints: us-east-1, eu-west-1, us-gov-west-1. */
export const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
/**
 * A tenant's connector host is `<tenant>.mail.protection.outlook.com`, where the tenant part is the
 * tenant's initial domain or an accepted domain with dots turned into dashes (contoso-com).
 */
export const M365_TENANT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;

/** One reply of a provider, as it reads in a probe's reply, a sendmail transcript or a deferral reason. */
export interface ReplyDecoder {
  /** Stable name, for tests and the stand-in smart host's modes. */
  id: string;
  match: RegExp;
  cause: string;
  remedy: string;
}

export interface PasswordFinding {
  level: 'error' | 'warning';
  message: string;
}

export interface ProviderPreset {
  name: ProviderName;
  /** As people call it: "Gmail", "Amazon SES (eu-west-1)". */
  title: string;
  host: string;
  port: number;
  /** 'required': takes mail only after AUTH; 'optional': by AUTH or by the relay's IP; 'none': by IP (or certificate) only. */
  auth: 'required' | 'optional' | 'none';
  /** What auth.user must look like, when the provider fixes it. */
  user?: { test: (user: string) => boolean; expected: string };
  /**
   * What is wrong with the password's shape, if anything (read when the lint reads the secret): an
   * error where the shape is certain to fail (SES's raw IAM secret), else a warning.
   */
  password?: (password: string) => PasswordFinding | undefined;
  /**
   * The SPF include(s) the provider documents for a sender domain whose mail it sends
   * (`include:amazonses.com`): any one authorises it; the first is the one suggested.
   */
  spfIncludes: string[];
  decoders: ReplyDecoder[];
}

const ADDRESS = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const isAddress = (u: string) => ADDRESS.test(u);

/** An SES SMTP password: base64 of the version byte 4 and a 32-byte HMAC, so 44 characters starting with B. */
const SES_SMTP_PASSWORD = /^B[A-Za-z0-9+/]{42}=?$|^B[A-Za-z0-9+/]{43}$/;

export function providerName(p: ProviderSetting): ProviderName {
  return typeof p === 'string' ? p : p.name;
}

export function presetOf(p: ProviderSetting): ProviderPreset {
  const name = providerName(p);
  switch (name) {
    case 'gmail':
      return {
        name,
        title: 'Gmail',
        host: 'smtp.gmail.com',
        port: 587,
        spfIncludes: ['_spf.google.com'],
        auth: 'required',
        user: { test: isAddress, expected: 'the full Google account address (you@gmail.com)' },
        password: (pw) =>
          /^[a-z]{4} ?[a-z]{4} ?[a-z]{4} ?[a-z]{4}$/.test(pw)
            ? undefined
            : {
                level: 'warning',
                message:
                  "does not look like an app password (Google's are 16 letters, shown in four groups of four): an account with 2-Step Verification takes only an app password for SMTP (534 5.7.9)",
              },
        decoders: GOOGLE_DECODERS,
      };
    case 'google-workspace-relay':
      return {
        name,
        title: 'Google Workspace SMTP relay',
        host: 'smtp-relay.gmail.com',
        port: 587,
        spfIncludes: ['_spf.google.com'],
        auth: 'optional',
        user: { test: isAddress, expected: 'an address of a user in your Workspace domain (relay@example.org)' },
        decoders: [
          {
            id: 'workspace-relay-denied',
            match: /\b550[ -]5\.7\.1\b/,
            cause:
              "refused the relay: this relay's public IP address, or the sender, is not allowed by the SMTP relay service setting of the Google Admin console",
            remedy:
              'in the Admin console (Apps > Google Workspace > Gmail > Routing > SMTP relay service) add this relay\'s public IP to the allowed senders, allow "only addresses in my domains" to match the rewritten sender (masquerade), or require SMTP authentication and set auth',
          },
          ...GOOGLE_DECODERS,
        ],
      };
    case 'microsoft-365':
      return {
        name,
        title: 'Microsoft 365',
        host: 'smtp.office365.com',
        port: 587,
        spfIncludes: ['spf.protection.outlook.com'],
        auth: 'required',
        user: { test: isAddress, expected: "the mailbox's user principal name (relay@example.org)" },
        decoders: [
          {
            id: 'm365-smtp-auth-disabled',
            match: /\b5\.7\.139\b/,
            cause:
              'refused SMTP AUTH: authenticated SMTP (basic authentication) is disabled for the tenant or this mailbox, by security defaults or by Microsoft retiring basic auth for it',
            remedy:
              "where the tenant still allows it, enable Authenticated SMTP for the mailbox (Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $false); better, relay through an inbound connector (provider: { name: 'microsoft-365-connector', tenant })",
          },
          {
            id: 'm365-auth-unsuccessful',
            match: /\b535[ -]5\.7\.3\b/,
            cause: 'refused the credentials: the user or password is wrong, or Authenticated SMTP is disabled for the mailbox',
            remedy:
              "check auth.user (the mailbox's UPN) and the password secret, and that Authenticated SMTP is on for the mailbox in the Microsoft 365 admin center",
          },
          {
            id: 'm365-tls12-required',
            match: /\b4\.7\.66\b/,
            cause: 'refused the TLS version: Microsoft 365 takes TLS 1.2 or newer only',
            remedy:
              "update the host's OpenSSL and sendmail, and do not hold sendmail to older protocols (ClientSSLOptions or confCLIENT_SSL_OPTIONS in defines)",
          },
          {
            id: 'm365-send-as-denied',
            match: /\b5\.2\.252\b/,
            cause: "refused the sender: the mailbox that authenticated may not send as the message's From (SendAsDenied)",
            remedy:
              "rewrite senders to the authenticated mailbox's address (masquerade or genericsTable), or grant that mailbox Send As on the sender in Exchange",
          },
        ],
      };
    case 'microsoft-365-connector': {
      const tenant = typeof p === 'string' ? '<tenant>' : (p as { tenant: string }).tenant;
      return {
        name,
        title: 'Microsoft 365 inbound connector',
        host: `${tenant.toLowerCase()}.mail.protection.outlook.com`,
        port: 25,
        spfIncludes: ['spf.protection.outlook.com'],
        auth: 'none',
        decoders: [
          {
            id: 'm365-connector-not-attributed',
            match: /\b5\.7\.64\b/,
            cause:
              "refused the relay (TenantAttribution): no inbound connector of the tenant matches this relay's public IP address (or certificate)",
            remedy:
              'in the Exchange admin center add an inbound connector "from your organization\'s email server" naming this relay\'s public IP, and send from a domain that is an accepted domain of the tenant',
          },
          {
            id: 'm365-connector-unable-to-relay',
            match: /\b550[ -]5\.7\.1\b.*Unable to relay/i,
            cause:
              'refused to relay: the sender domain is not an accepted domain of the tenant, or the connector does not cover this relay',
            remedy:
              "rewrite the sender to an accepted domain of the tenant (masquerade), and check that the inbound connector names this relay's public IP",
          },
          {
            id: 'm365-tls12-required',
            match: /\b4\.7\.66\b/,
            cause: 'refused the TLS version: Microsoft 365 takes TLS 1.2 or newer only',
            remedy: "update the host's OpenSSL and sendmail, and do not hold sendmail to older protocols",
          },
        ],
      };
    }
    case 'ses': {
      const region = typeof p === 'string' ? 'us-east-1' : (p as { region: string }).region;
      return {
        name,
        title: `Amazon SES (${region})`,
        host: `email-smtp.${region}.amazonaws.com`,
        port: 587,
        spfIncludes: ['amazonses.com'],
        auth: 'required',
        user: {
          test: (u) => /^AKIA[A-Z0-9]{16}$/.test(u),
          expected: 'the access key id of the IAM user that may send (20 characters, AKIA...)',
        },
        password: (pw) =>
          SES_SMTP_PASSWORD.test(pw)
            ? undefined
            : /^[A-Za-z0-9+/]{40}$/.test(pw)
              ? {
                  level: 'error',
                  message: `is an IAM secret access key (40 characters), which SES refuses as an SMTP password (535): derive the password with secret.sesSmtpPassword(<that secret>, '${region}')`,
                }
              : {
                  level: 'warning',
                  message: `does not look like an SES SMTP password (44 characters of base64 starting with B): derive it with secret.sesSmtpPassword(<the IAM secret access key>, '${region}')`,
                },
        decoders: [
          {
            id: 'ses-not-verified',
            match: /Email address is not verified|identit(y|ies) failed the check/i,
            cause: `refused the message: the sender, or in the SES sandbox the recipient, is not a verified identity in ${region}`,
            remedy: `verify the sender's domain (or address) in SES in ${region}, and request production access to leave the sandbox`,
          },
          {
            id: 'ses-throttled',
            match: /\b454[ -].*(Throttl|Maximum sending rate|Daily message quota)/i,
            cause: `throttled the relay: the account's sending rate or 24-hour quota in ${region} is used up`,
            remedy: 'the mail waits in the queue and is retried; ask AWS for a higher sending quota if it lasts',
          },
          {
            id: 'ses-credentials',
            match: /\b535[ -]/,
            cause: `refused the credentials: SES SMTP credentials belong to one region (${region} here), and the password is derived from the IAM secret, never the secret itself`,
            remedy: `set auth.user to the IAM access key id and the password to secret.sesSmtpPassword(<the IAM secret access key>, '${region}'), for the region of provider.region`,
          },
        ],
      };
    }
    case 'sendgrid':
      return {
        name,
        title: 'SendGrid',
        host: 'smtp.sendgrid.net',
        port: 587,
        spfIncludes: ['sendgrid.net'],
        auth: 'required',
        user: { test: (u) => u === 'apikey', expected: "the literal 'apikey' (SendGrid's SMTP user; the API key is the password)" },
        password: (pw) =>
          /^SG\.[\w-]+\.[\w-]+$/.test(pw)
            ? undefined
            : { level: 'warning', message: 'does not look like a SendGrid API key (SG.<id>.<secret>)' },
        decoders: [
          {
            id: 'sendgrid-credentials',
            match: /\b535[ -]/,
            cause: 'refused the API key',
            remedy: 'auth.user must be the literal apikey and the password an API key with the Mail Send permission (SG.<id>.<secret>)',
          },
          {
            id: 'sendgrid-sender-identity',
            match: /Sender Identity/i,
            cause: 'refused the sender: the From address is not a verified Sender Identity',
            remedy: 'verify the sender address, or authenticate its domain, in SendGrid (Settings > Sender Authentication)',
          },
          {
            id: 'sendgrid-credits',
            match: /Maximum credits exceeded/i,
            cause: "refused the message: the account's credits are used up",
            remedy: "upgrade the SendGrid plan or wait for the credits' renewal; the mail waits in the queue",
          },
        ],
      };
    case 'mailgun':
    case 'mailgun-eu': {
      const eu = name === 'mailgun-eu';
      return {
        name,
        title: eu ? 'Mailgun (EU)' : 'Mailgun',
        host: eu ? 'smtp.eu.mailgun.org' : 'smtp.mailgun.org',
        port: 587,
        spfIncludes: ['mailgun.org'],
        auth: 'required',
        user: { test: isAddress, expected: "the domain's SMTP login (postmaster@mg.example.org)" },
        decoders: [
          {
            id: 'mailgun-credentials',
            match: /\b535[ -]/,
            cause: `refused the SMTP credentials (a domain ${eu ? 'in the US region' : 'in the EU region'} is not known here either)`,
            remedy: `auth.user is the domain's SMTP login and the password its SMTP password (not the API key); a domain created in the ${eu ? 'US region takes provider mailgun' : "EU region takes provider 'mailgun-eu'"}`,
          },
          {
            id: 'mailgun-sandbox-recipient',
            match: /authorized recipients|sandbox subdomains/i,
            cause: 'refused the recipient: a Mailgun sandbox domain delivers only to its authorised recipients',
            remedy: 'add the recipient to the authorised recipients of the sandbox domain, or send from a verified domain of your own',
          },
        ],
      };
    }
    case 'postmark':
      return {
        name,
        title: 'Postmark',
        host: 'smtp.postmarkapp.com',
        port: 587,
        spfIncludes: ['spf.mtasv.net'],
        auth: 'required',
        user: {
          test: (u) => !u.includes('@'),
          expected: "a Server API token (the password is the same token) or an SMTP token's access key, not an address",
        },
        decoders: [
          {
            id: 'postmark-credentials',
            match: /\b535[ -]/,
            cause: 'refused the token',
            remedy: "use the server's Server API token as both user and password, or an SMTP token's access key and secret key",
          },
          {
            id: 'postmark-sender-signature',
            match: /Sender Signature/i,
            cause: 'refused the sender: the From address has no confirmed Sender Signature',
            remedy: 'add and confirm a Sender Signature for the address, or verify its domain, in Postmark',
          },
        ],
      };
  }
}

const GOOGLE_DECODERS: ReplyDecoder[] = [
  {
    id: 'google-app-password',
    match: /\b534[ -]5\.7\.9\b/,
    cause: 'wants an app password: the account has 2-Step Verification on and refuses its own password for SMTP',
    remedy: 'create an app password for this account (Google Account > Security > App passwords) and make it the password secret',
  },
  {
    id: 'google-credentials',
    match: /\b535[ -]5\.7\.8\b/,
    cause: 'refused the user or password',
    remedy: 'set auth.user to the full address and the password secret to an app password of that account (not its own password)',
  },
  {
    id: 'google-daily-quota',
    match: /\b5\.4\.5\b/,
    cause: 'refused the message: the daily sending limit of the account is reached',
    remedy: "wait for the limit to reset (24 h), or send less; Google Workspace's SMTP relay has higher limits",
  },
];

/** The provider's own reading of a reply line, if its table has one. */
export function decodeProviderReply(p: ProviderSetting, text: string): { decoder: ReplyDecoder; line: string } | undefined {
  for (const decoder of presetOf(p).decoders) {
    const line = text.split('\n').find((l) => decoder.match.test(l));
    if (line !== undefined) return { decoder, line: line.trim() };
  }
  return undefined;
}
