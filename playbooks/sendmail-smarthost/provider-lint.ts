// What a provider preset checks before connecting, beyond the schema (which already refused a
// missing or unwanted auth and a user of the wrong shape): the password's shape, read from its
// secret (never shown: the finding names the secret's source), Microsoft's retirement of basic
// auth, and settings that override the preset.
import type { Finding } from 'mailprov';
import { presetOf } from './providers.ts';
import type { SendmailSettings } from './settings.ts';

export function lintProvider(settings: SendmailSettings): Finding[] {
  if (!settings.provider) return [];
  const preset = presetOf(settings.provider);
  const findings: Finding[] = [];
  const { auth } = settings;
  if (preset.name === 'microsoft-365' && auth) {
    findings.push({
      level: 'warning',
      code: 'provider-basic-auth-retiring',
      message: `MICROSOFT IS RETIRING BASIC AUTH FOR SMTP AUTH: Microsoft has announced that Exchange Online stops taking a password for SMTP AUTH (client submission to ${preset.host}), and a tenant with security defaults refuses it already (535 5.7.139). When it goes, this relay's mail stays queued. sendmail cannot do OAuth2 from Debian's or RHEL's packages (no XOAUTH2 SASL plugin): relay through the tenant's inbound connector instead (provider: { name: 'microsoft-365-connector', tenant }, authorised by this relay's IP, no password)`,
    });
  }
  // SES's credentials are per region: a password derived for another one gets 535
  const source = auth?.password.source;
  if (typeof settings.provider === 'object' && settings.provider.name === 'ses' && source?.kind === 'ses-smtp-password') {
    if (source.region !== settings.provider.region)
      findings.push({
        level: 'error',
        code: 'provider-password-region',
        message: `auth.password is the SES SMTP password for ${source.region}, but provider.region is ${settings.provider.region}: SES refuses it there (535); derive it for ${settings.provider.region}`,
      });
  } else if (auth && preset.password) {
    let password: string | undefined;
    try {
      password = auth.password.reveal();
    } catch {
      // an unreadable secret is the playbook's own error (secret-missing)
    }
    const wrong = password === undefined ? undefined : preset.password(password);
    if (wrong)
      findings.push({
        level: wrong.level,
        code: 'provider-password-shape',
        message: `auth.password (${auth.password.describe()}) ${wrong.message} for ${preset.title}`,
      });
  }
  const overridden = [
    settings.smartHost !== preset.host && `smartHost ${settings.smartHost} (the preset's: ${preset.host})`,
    settings.smartHostPort !== preset.port && `smartHostPort ${settings.smartHostPort} (the preset's: ${preset.port})`,
  ].filter((x): x is string => typeof x === 'string');
  if (overridden.length)
    findings.push({
      level: 'info',
      code: 'provider-overridden',
      message: `${overridden.join(' and ')} given explicitly: used instead of ${preset.title}'s; its reply codes are still decoded as ${preset.title}'s`,
    });
  if (preset.auth !== 'required' && !auth)
    findings.push({
      level: 'info',
      code: 'provider-relay-by-ip',
      message: `no auth: ${preset.title} must know this relay by its public IP address (${preset.name === 'microsoft-365-connector' ? 'an inbound connector of the tenant' : "the Admin console's SMTP relay service"}); the probe proves it with MAIL FROM and RCPT TO, no message sent`,
    });
  return findings;
}
