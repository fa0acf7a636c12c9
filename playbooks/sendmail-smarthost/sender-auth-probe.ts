// `plan --probe`: the sender domain's SPF and DMARC records, looked up from the controller, judged
// for this smart host (sender-auth.ts). Warnings by default; with senderAuthentication.check
// 'require', a warning that means mail may fail SPF or DMARC fails the host.
import { OperationError, type Finding, type ProbeContext } from 'mailprov';
import { dnsServersFrom, resolverTxtLookup, type TxtLookup } from './dns-txt.ts';
import { presetOf } from './providers.ts';
import { checkDmarc, checkSpf, judgeSenderAuth, type SenderAuthFinding } from './sender-auth.ts';
import { expectedSender, triedAddresses } from './sender.ts';
import type { SendmailSettings } from './settings.ts';

const SENDMAIL = '/usr/sbin/sendmail';
const PLAIN_ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/;

export interface SenderAddresses {
  /** MAIL FROM, as it leaves for the smart host: what SPF checks. */
  envelope: string;
  /** The header From: what DMARC checks. */
  header: string;
  /** Where they come from, for the log. */
  source: string;
}

/**
 * The sender of the host's own mail (verify.from, else root at the host) as it will leave. With
 * the mc mailprov writes, the settings say it (masquerade, genericsTable): the plan is of those
 * settings, not of what the host runs now. With your own mc, or a rewriting the settings cannot
 * predict, the host's sendmail says it (-bt reads the cf on disk); before sendmail is installed,
 * the sender as it is.
 */
export async function senderAddresses(ctx: Pick<ProbeContext, 'exec' | 'facts'>, settings: SendmailSettings): Promise<SenderAddresses> {
  const fqdn = ctx.facts.os.fqdn;
  const from = settings.verify?.from ?? `root@${fqdn}`;
  const at = from.lastIndexOf('@');
  const [user, domain] = [from.slice(0, at), from.slice(at + 1)];
  const rewrites = settings.mc !== undefined || settings.masquerade !== undefined || settings.genericsTable !== undefined;
  if (!rewrites) return { envelope: from, header: from, source: 'no sender rewriting' };
  if (!settings.mc && domain.toLowerCase() === fqdn.toLowerCase()) {
    const header = expectedSender(settings, user, fqdn);
    const envelope = settings.masquerade ? settings.masquerade.envelope : settings.genericsTable !== undefined;
    if (header) return { envelope: envelope ? header : from, header, source: 'as the settings rewrite it' };
  }
  const r = await ctx.exec(`[ -x ${SENDMAIL} ] && ${SENDMAIL} -bt`, `/tryflags ES\n/try relay ${from}\n/tryflags HS\n/try relay ${from}\n`);
  const [envelope, header] = r.code === 0 ? triedAddresses(r.stdout) : [];
  if (envelope && header && PLAIN_ADDRESS.test(envelope) && PLAIN_ADDRESS.test(header))
    return { envelope, header, source: "as the host's sendmail.cf rewrites it" };
  return { envelope: from, header: from, source: "as it is (the host's sendmail -bt did not say how it leaves: not installed yet?)" };
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/**
 * Looks up and judges the sender domain's SPF and DMARC, reporting each finding on `ctx`; returns
 * the warnings that fail the host when the check is required. `lookup` is for tests; by default
 * the DNS servers of the settings, else of MAILPROV_DNS_SERVERS, else the system's, are asked.
 */
export async function probeSenderAuthentication(
  ctx: ProbeContext,
  settings: SendmailSettings,
  lookup?: TxtLookup,
): Promise<SenderAuthFinding[]> {
  const { check, dnsServers } = settings.senderAuthentication;
  if (check === 'off') return [];
  const senders = await senderAddresses(ctx, settings);
  const envelopeDomain = domainOf(senders.envelope);
  const headerDomain = domainOf(senders.header);
  const ask = lookup ?? resolverTxtLookup({ servers: dnsServersFrom(dnsServers) });
  ctx.log(`sender ${senders.envelope} (envelope, SPF's) and ${senders.header} (header From, DMARC's), ${senders.source}`);
  const [spf, dmarc] = await Promise.all([checkSpf(envelopeDomain, ask), checkDmarc(headerDomain, ask)]);
  const preset = settings.provider ? presetOf(settings.provider) : undefined;
  const findings = judgeSenderAuth({ envelopeDomain, headerDomain, spf, dmarc, provider: preset, smartHost: settings.smartHost });
  for (const f of findings) {
    if (f.level === 'warning') ctx.warn(f.message, f.code);
    else ctx.info(f.message, f.code);
  }
  return check === 'require' ? findings.filter((f) => f.required) : [];
}

/** The failure of a required check: what failed, each finding as evidence. */
export function senderAuthFailure(failed: SenderAuthFinding[]): OperationError {
  return new OperationError(
    `sender domain check failed (senderAuthentication.check is 'require'): ${failed.map((f) => f.code).join(', ')}`,
    failed.map((f) => `  ${f.message}`),
  );
}

/** The setting's lint: servers given to a check that is off. */
export function lintSenderAuthentication(settings: Pick<SendmailSettings, 'senderAuthentication'>): Finding[] {
  const { check, dnsServers } = settings.senderAuthentication;
  if (check === 'off' && dnsServers)
    return [
      {
        level: 'warning',
        code: 'sender-authentication-unused',
        message: "senderAuthentication.dnsServers is set but check is 'off': no SPF or DMARC record is looked up",
      },
    ];
  return [];
}
