// What the sendmail playbook runs on a host: the validation of a candidate sendmail.mc, the
// rebuild of maps and sendmail.cf (whose exit codes hide m4 errors), and the post-restart proof
// that the relay works. Output of commands that may carry credentials is never kept whole.
import { randomBytes } from 'node:crypto';
import { OperationError } from '../errors.ts';
import type { HostFacts } from '../facts/types.ts';
import type { VerifyContext } from '../playbook/index.ts';
import { redact } from '../secrets/index.ts';
import { sh } from '../transport/quote.ts';
import type { SendmailSettings } from './settings.ts';

export const MAIL_DIR = '/etc/mail';
const SENDMAIL = '/usr/sbin/sendmail';

export function distroOf(facts: HostFacts): { family: 'debian' | 'rhel'; major: number } {
  return { family: facts.os.family === 'rhel' ? 'rhel' : 'debian', major: Number.isNaN(facts.os.major) ? 0 : facts.os.major };
}

/**
 * Validate command for the mc file (its `%s` is the candidate's temp path): m4 must exit 0 and
 * write nothing to stderr, and sendmail must accept the resulting cf. Leaves no files behind.
 */
export function validateMcCommand(placeholder = '%s'): string {
  const t = placeholder;
  const clean = `rm -f ${t}.cf ${t}.err`;
  return [
    `if ! m4 ${t} > ${t}.cf 2> ${t}.err || [ -s ${t}.err ]; then echo "m4 rejects the new sendmail.mc:" >&2; cat ${t}.err >&2; ${clean}; exit 1; fi`,
    `if ! ${SENDMAIL} -C ${t}.cf -bt -d0.1 </dev/null > ${t}.err 2>&1; then echo "sendmail rejects the sendmail.cf built from the new sendmail.mc:" >&2; tail -n 5 ${t}.err >&2; ${clean}; exit 1; fi`,
    clean,
  ].join('\n');
}

/** Rebuilds sendmail.cf and the maps; fails on m4 errors that `make` would hide, and on a cf sendmail rejects. */
export function makeCommand(): string {
  return [
    `make -s -C ${MAIL_DIR} >/dev/null`,
    `if [ -s ${MAIL_DIR}/sendmail.cf.errors ]; then echo "m4 errors while building sendmail.cf:" >&2; cat ${MAIL_DIR}/sendmail.cf.errors >&2; exit 1; fi`,
    `${SENDMAIL} -bt -d0.1 </dev/null >/dev/null 2>&1 || { echo "sendmail rejects ${MAIL_DIR}/sendmail.cf" >&2; exit 1; }`,
  ].join('\n');
}

/** makemap for a text map; Debian keeps its maps smmta:smmsp 0640, as its Makefile does. */
export function makemapCommand(map: 'authinfo' | 'access'): string {
  const path = `${MAIL_DIR}/${map}`;
  const db = `${path}.db`;
  return [
    // a rollback may have removed the text map (it did not exist before): its .db goes too
    sh`if [ ! -f ${path} ]; then rm -f ${db}; exit 0; fi`,
    sh`makemap -r hash ${path} < ${path}`,
    sh`if getent passwd smmta >/dev/null 2>&1; then chown smmta:smmsp ${db}; fi`,
    sh`chmod 0640 ${db}`,
  ].join('\n');
}

async function retry<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new OperationError(`verification failed: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Server replies (lines starting with a reply code) and status lines of a `sendmail -v` transcript; never client lines. */
export function transcriptEvidence(output: string): string[] {
  return redact(output)
    .split('\n')
    .filter((l) => /^\d{3}[ -]/.test(l) || /\.\.\. (Sent|Deferred|User unknown|Connecting|Service unavailable)/.test(l) || /^>>> (STARTTLS|EHLO|MAIL|RCPT|DATA|QUIT)/.test(l))
    .map((l) => `  ${l}`)
    .slice(-25);
}

export async function verifyRelay(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const { exec, log } = ctx;
  await retry('sendmail is not running after the restart', async () => {
    const r = await exec('if [ -d /run/systemd/system ]; then systemctl is-active --quiet sendmail; else /etc/init.d/sendmail status >/dev/null 2>&1; fi');
    return r.code === 0 ? true : undefined;
  });
  log('sendmail is running');
  if (ctx.mode === 'rollback') {
    // the restored config may predate the relay: it only has to be one sendmail accepts
    const cf = await exec(`${SENDMAIL} -bt -d0.1 </dev/null >/dev/null 2>&1`);
    if (cf.code !== 0) throw new OperationError('verification failed: sendmail rejects the restored sendmail.cf');
    log('the restored sendmail.cf is valid');
    return;
  }

  const wanted = settings.listen.map((a) => `${a}:25`);
  await retry(`sendmail does not listen on ${wanted.join(', ')}`, async () => {
    const r = await exec('ss -ltnH 2>/dev/null || netstat -ltn 2>/dev/null');
    const local = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[3] ?? '');
    return wanted.every((w) => local.includes(w) || (w.startsWith('0.0.0.0:') && local.includes(`*:${w.split(':')[1]}`))) ? true : undefined;
  });
  log(`listening on ${wanted.join(', ')}`);

  const probe = settings.verify?.recipient ?? 'postmaster@example.com';
  const route = await exec(`echo ${sh`${`3,0 ${probe}`}`} | ${SENDMAIL} -bt`);
  // -bt prints tokens spaced out: "$# relay $@ [ smtp . gmail . com ] $: ..."
  const parsed = /^\s*parse\s+returns: \$# (\S+) \$@ (.*?) \$:/m.exec(route.stdout);
  const relay = parsed ? [parsed[1], parsed[2].replace(/\s+/g, '')] : undefined;
  if (!relay || relay[0] !== 'relay' || relay[1].replace(/^\[|\]$/g, '') !== settings.smartHost) {
    throw new OperationError(`verification failed: mail to ${probe} is not routed to the smart host ${settings.smartHost}`, transcriptEvidence(route.stdout).concat(route.stdout.split('\n').filter((l) => l.includes('$#')).map((l) => `  ${l}`)));
  }
  log(`mail to ${probe} routes to ${relay[1]} (${relay[0]} mailer)`);

  if (!settings.verify) return;
  const fqdn = ctx.facts.os.fqdn;
  const id = `mailprov-verify-${randomBytes(6).toString('hex')}@${fqdn}`;
  const from = settings.verify.from ?? `root@${fqdn}`;
  const message = [
    `From: ${from}`,
    `To: ${settings.verify.recipient}`,
    `Subject: mailprov verification from ${ctx.hostName}`,
    `Message-ID: <${id}>`,
    '',
    `Sent by mailprov on ${fqdn} to prove that this host relays through ${settings.smartHost}:${settings.smartHostPort}.`,
    '',
  ].join('\n');
  // -v delivers at once and shows the SMTP dialogue; -Am uses the MTA config as the daemon would.
  const r = await exec(sh`${SENDMAIL} -Am -v -odi -oi -f ${from} -- ${settings.verify.recipient}`, message);
  const evidence = transcriptEvidence(r.stdout + '\n' + r.stderr);
  const sent = /\.\.\. Sent \(/.test(r.stdout);
  const tls = /^>>> STARTTLS/m.test(r.stdout) && /^220 /m.test(r.stdout.split('>>> STARTTLS')[1] ?? '');
  const authed = /^235[ -]/m.test(r.stdout);
  if (r.code !== 0 || !sent) throw new OperationError(`verification failed: the test message did not leave through ${settings.smartHost}`, evidence);
  if (settings.auth && !authed) throw new OperationError('verification failed: the test message was sent without SMTP AUTH', evidence);
  log(`test message <${id}> relayed through ${settings.smartHost}:${settings.smartHostPort}${tls ? ' over STARTTLS' : ''}${authed ? ' with AUTH' : ''}`);
}
