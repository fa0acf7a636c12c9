// The smart-host probe, from the relay host's own network position: connect, EHLO, STARTTLS with
// the certificate checked against the CA bundle sendmail uses, AUTH with the configured
// credentials, QUIT. No mail is sent. Run after every changing apply and by `plan --probe`.
import { OperationError, redact, sh, type ProbeContext } from 'mailprov';
import { diagnoseConnect, diagnoseProbe, oneLine, type DiagnoseContext, type Diagnosis } from './diagnose.ts';
import { distroOf } from './distro.ts';
import { distroPaths, routeList, smartHostList } from './render.ts';
import type { SendmailSettings } from './settings.ts';
import { expectedSender, triedAddresses } from './sender.ts';
import { smtpProbe, type SmtpProbeResult } from './smtp-probe.ts';

const SENDMAIL = '/usr/sbin/sendmail';
const PLAIN_ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/;

/**
 * The envelope sender the test message leaves with, as sendmail rewrites it (/try relay with the
 * envelope flags): what an IP-authorised smart host is asked to take. Before sendmail is installed
 * (plan --probe on a new host), what the settings say it will be.
 */
export async function rewrittenSender(ctx: Pick<ProbeContext, 'exec' | 'facts'>, settings: SendmailSettings): Promise<string> {
  const fqdn = ctx.facts.os.fqdn;
  const from = settings.verify?.from ?? `root@${fqdn}`;
  const r = await ctx.exec(`[ -x ${SENDMAIL} ] && ${SENDMAIL} -bt`, `/tryflags ES\n/try relay ${from}\n`);
  const tried = r.code === 0 ? triedAddresses(r.stdout)[0] : undefined;
  if (tried && PLAIN_ADDRESS.test(tried)) return tried;
  const [user, domain] = from.split('@');
  const envelope = settings.masquerade ? settings.masquerade.envelope : settings.genericsTable !== undefined;
  return (envelope && domain === fqdn && expectedSender(settings, user, fqdn)) || from;
}

/** The CA bundle sendmail verifies the smart host with (confCACERT). */
export function caFileOf(settings: SendmailSettings, ctx: Pick<ProbeContext, 'facts'>): string {
  return settings.trustedCa ?? distroPaths(distroOf(ctx.facts)).caFile;
}

export function diagnoseContext(settings: SendmailSettings, ctx: Pick<ProbeContext, 'facts'>): DiagnoseContext {
  return {
    smartHost: settings.smartHost,
    port: settings.smartHostPort,
    user: settings.auth?.user,
    caFile: caFileOf(settings, ctx),
    provider: settings.provider,
  };
}

/** Server replies as evidence lines: never what the client sent after AUTH. */
const evidenceOf = (r: SmtpProbeResult) =>
  r.transcript
    .filter((l) => l.startsWith('S: ') || /^C: (EHLO|STARTTLS|QUIT|MAIL FROM|RCPT TO|RSET|AUTH \w+ \*+$)/.test(l))
    .map((l) => `  ${redact(l)}`)
    .slice(-30);

function failed(d: Diagnosis, evidence: string[] = []): OperationError {
  return Object.assign(new OperationError(`smart host check failed: ${oneLine(d)}`, evidence), { diagnosis: d });
}

/** Throws OperationError (with its `diagnosis`) when the smart host cannot be used; else says what it saw. */
export async function probeSmartHost(ctx: ProbeContext, settings: SendmailSettings): Promise<SmtpProbeResult> {
  const { smartHost, smartHostPort: port } = settings;
  const dctx = diagnoseContext(settings, ctx);
  let ca: string | undefined;
  if (settings.smartHostTls === 'verify') {
    const r = await ctx.exec(sh`cat ${dctx.caFile}`);
    if (r.code !== 0 || !r.stdout.includes('BEGIN CERTIFICATE'))
      throw new OperationError(`smart host check failed: the CA bundle ${dctx.caFile} is missing or empty on this host`, [
        `  ${r.stderr.trim()}`,
      ]);
    ca = r.stdout;
  }
  let stream: Awaited<ReturnType<ProbeContext['connect']>>;
  try {
    stream = await ctx.connect(smartHost, port);
  } catch (err) {
    const e = err as Error & { kind?: string; detail?: string };
    throw failed(diagnoseConnect(e.kind ?? 'other', e.detail ?? e.message, dctx));
  }
  const auth = settings.auth;
  // a smart host that takes this relay without AUTH (by its IP): proven with an envelope, no DATA
  const envelope = !auth && settings.verify ? { from: await rewrittenSender(ctx, settings), to: settings.verify.recipient } : undefined;
  const result = await smtpProbe(stream, {
    serverName: smartHost,
    tls: settings.smartHostTls,
    ca,
    ehloName: ctx.facts.os.fqdn,
    // revealed here, on the controller, only to go inside TLS to the smart host (or in the clear,
    // where allowPlaintextAuth says sendmail may send it so); the settings made reveal() register
    // the AUTH payloads that carry it (usedForSaslBy)
    auth: auth ? { user: auth.user, password: auth.password.reveal(), mechanisms: auth.mechanisms } : undefined,
    allowPlaintextAuth: settings.allowPlaintextAuth,
    envelope,
  });
  const evidence = evidenceOf(result);
  for (const line of evidence) ctx.log(line.trim());
  if (!result.ok) throw failed(diagnoseProbe(result.failure!, dctx), evidence);
  const tls = result.certificate
    ? ` over TLS (certificate ${result.certificate.subject}, issued by ${result.certificate.issuer})`
    : result.tls === false
      ? ' without TLS (the server offers no STARTTLS)'
      : '';
  const authed = result.mechanism ? `, AUTH ${result.mechanism} accepted for ${auth!.user}` : '';
  const relayed =
    result.envelopeAccepted && envelope
      ? `, relay accepted without AUTH for ${envelope.from} to ${envelope.to} (RSET, no message sent)`
      : '';
  ctx.info(`smart host ${smartHost}:${port} reached from this host${tls}${authed}${relayed}`);
  return result;
}

/** What failover is for: a smart host that cannot be reached now. Anything else is a misconfiguration. */
const UNREACHABLE = new Set(['connection-refused', 'connection-timed-out', 'name-not-found', 'network-unreachable', 'refused-at-greeting']);

/**
 * Every smart host of the list, each with its own AuthInfo and TLS requirement (the provider's
 * replies are read for smartHost only). With fallbacks, one that cannot be reached is a warning
 * while another takes the relay; a refusal (credentials, TLS, the relay) fails the host, and so
 * does a list none of which can be reached.
 */
export async function probeSmartHosts(ctx: ProbeContext, settings: SendmailSettings): Promise<void> {
  await probeFailoverList(ctx, settings);
  // each route's smart host, on its port: a refusal fails the host, as for smartHost. One taking
  // the relay without AUTH is asked for its own domain's postmaster (RFC 5321 requires one), not
  // for the verify recipient, which it has no reason to take
  for (const r of routeList(settings))
    await probeSmartHost(ctx, {
      ...settings,
      verify: { recipient: `postmaster@${r.domain}`, from: settings.verify?.from },
      smartHost: r.smartHost,
      auth: r.auth,
      smartHostTls: r.smartHostTls,
      smartHostPort: r.port ?? settings.smartHostPort,
      provider: undefined,
      fallbackSmartHosts: [],
      routes: {},
    });
}

async function probeFailoverList(ctx: ProbeContext, settings: SendmailSettings): Promise<void> {
  const hosts = smartHostList(settings);
  if (hosts.length === 1) {
    await probeSmartHost(ctx, settings);
    return;
  }
  const down: string[] = [];
  for (const [i, h] of hosts.entries()) {
    const one = { ...settings, ...h, provider: i === 0 ? settings.provider : undefined, fallbackSmartHosts: [] };
    try {
      await probeSmartHost(ctx, one);
    } catch (err) {
      const diagnosis = (err as { diagnosis?: Diagnosis }).diagnosis;
      if (!diagnosis || !UNREACHABLE.has(diagnosis.code)) throw err;
      down.push(h.smartHost);
      ctx.warn(`${(err as Error).message} (smart host ${i + 1} of ${hosts.length}: sendmail tries the next of the list)`);
    }
  }
  if (down.length === hosts.length)
    throw new OperationError(`smart host check failed: none of the smart hosts ${down.join(', ')} can be reached from this host`);
}
