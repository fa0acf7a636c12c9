// What the sendmail playbook runs on a host: the validation of a candidate sendmail.mc, the
// rebuild of maps and sendmail.cf (whose exit codes hide m4 errors), and the post-restart proof
// that the relay works. Output of commands that may carry credentials is never kept whole.
import { randomBytes } from 'node:crypto';
import { OperationError, redact, script, serviceFact, sh, type ProbeContext, type ServiceQuery, type VerifyContext } from 'mailprov';
import { diagnoseText, oneLine } from './diagnose.ts';
import { checkNotOpenRelay } from './open-relay.ts';
import { isV6, listensOn } from './listen.ts';
import { verifyMaps } from './maps.ts';
import { diagnoseContext, probeSmartHosts } from './probe.ts';
import { probeSenderAuthentication, senderAuthFailure } from './sender-auth-probe.ts';
import { type RouteHost, routeList, routeMailer, smartHostList } from './render.ts';
import { flushCommand, mailQueueFact, parseQueue } from './queue.ts';
import { verifySenderRewriting } from './sender.ts';
import { sideBySide } from './side-by-side.ts';
import type { SendmailSettings } from './settings.ts';

export const MAIL_DIR = '/etc/mail';

/** The sendmail service as its facts ask about it: where systemd does not run, by its daemon's pid files. */
export const SENDMAIL_SERVICE: ServiceQuery = {
  name: 'sendmail',
  // Debian's daemon (MTA listener), and RHEL's
  pidFiles: ['/run/sendmail/mta/sendmail.pid', '/var/run/sendmail.pid'],
  processName: 'sendmail', // Debian's daemon is sendmail-mta
};
const SENDMAIL = '/usr/sbin/sendmail';

/**
 * Validate command for the mc file (its `%s` is the candidate's temp path): m4 must exit 0 and
 * write nothing to stderr, and sendmail must accept the resulting cf. Leaves no files behind.
 */
export function validateMcCommand(placeholder = '%s'): string {
  const t = placeholder;
  const clean = `rm -f ${t}.cf ${t}.err`;
  return script([
    `if ! m4 ${t} > ${t}.cf 2> ${t}.err || [ -s ${t}.err ]; then echo "m4 rejects the new sendmail.mc:" >&2; cat ${t}.err >&2; ${clean}; exit 1; fi`,
    `if ! ${SENDMAIL} -C ${t}.cf -bt -d0.1 </dev/null > ${t}.err 2>&1; then echo "sendmail rejects the sendmail.cf built from the new sendmail.mc:" >&2; tail -n 5 ${t}.err >&2; ${clean}; exit 1; fi`,
    clean,
  ]);
}

/** Rebuilds sendmail.cf and the maps; fails on m4 errors that `make` would hide, and on a cf sendmail rejects. */
/**
 * Maps and sendmail.cf are built for sendmail: when it is not installed (`rollback --packages`
 * removed it, or put the host's old MTA back), a rebuild after restored files has nothing to build.
 * An apply always installs sendmail before these run.
 */
const SENDMAIL_GONE = `if ! command -v makemap >/dev/null 2>&1; then echo 'sendmail is not installed (makemap is missing): nothing to rebuild'; exit 0; fi`;

export function makeCommand(): string {
  return script([
    SENDMAIL_GONE,
    `make -s -C ${MAIL_DIR} >/dev/null`,
    `if [ -s ${MAIL_DIR}/sendmail.cf.errors ]; then echo "m4 errors while building sendmail.cf:" >&2; cat ${MAIL_DIR}/sendmail.cf.errors >&2; exit 1; fi`,
    `${SENDMAIL} -bt -d0.1 </dev/null >/dev/null 2>&1 || { echo "sendmail rejects ${MAIL_DIR}/sendmail.cf" >&2; exit 1; }`,
  ]);
}

/** makemap for a text map; Debian keeps its maps smmta:smmsp 0640, as its Makefile does. */
export function makemapCommand(map: 'authinfo' | 'access' | 'genericstable' | 'mailertable'): string {
  const path = `${MAIL_DIR}/${map}`;
  const db = `${path}.db`;
  return script([
    // a rollback may have removed the text map (it did not exist before): its .db goes too
    sh`if [ ! -f ${path} ]; then rm -f ${db}; exit 0; fi`,
    SENDMAIL_GONE,
    sh`makemap -r hash ${path} < ${path}`,
    sh`if getent passwd smmta >/dev/null 2>&1; then chown smmta:smmsp ${db}; fi`,
    sh`chmod 0640 ${db}`,
  ]);
}

/** Polls until fn says yes or the time is up; says whether it did. */
async function poll(fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function retry(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  if (!(await poll(fn, timeoutMs))) throw new OperationError(`verification failed: ${what}`);
}

/**
 * Prints sendmail's process titles, the 1-minute load average, the CPU count, and sendmail.cf's
 * RefuseLA (if set) and daemons, for loadRefusal() and smtpDaemonAddresses(). The daemon closes its
 * sockets while the load is at or above RefuseLA, and says so in its title.
 */
export const LOAD_FACTS_COMMAND = `ps -eo args | grep '^sendmail'; grep '^O DaemonPortOptions=' ${MAIL_DIR}/sendmail.cf; echo "load $(cut -d' ' -f1 /proc/loadavg)"; echo "cpus $(nproc 2>/dev/null || echo 1)"; echo "refusela $(sed -n 's/^O RefuseLA=\\([0-9]*\\).*/\\1/p' ${MAIL_DIR}/sendmail.cf | tail -n 1)"`;

const REFUSAL_TITLE = /^sendmail: .*rejecting connections on daemon [^:]*: load average: (\d+)/m;

/**
 * Whether sendmail refuses connections because of the load. Its process title says so ("rejecting
 * connections on daemon MTA-v4: load average: 27"), as of its last look at the load; failing that,
 * the load is compared with RefuseLA from sendmail.cf, else its default of 12 per CPU (op.me).
 */
export function loadRefusal(output: string): { load: number; refuseLA: number } | undefined {
  const field = (key: string) => new RegExp(`^${key} ([0-9.]+)`, 'm').exec(output)?.[1];
  const setLA = field('refusela');
  const refuseLA = setLA !== undefined ? Number(setLA) : 12 * (Number(field('cpus')) || 1);
  const title = REFUSAL_TITLE.exec(output);
  if (title) return { load: Number(title[1]), refuseLA };
  const load = Number(field('load') ?? Number.NaN);
  if (Number.isNaN(load) || refuseLA <= 0) return undefined;
  return Math.floor(load) >= refuseLA ? { load, refuseLA } : undefined;
}

/** Whether sendmail says (in its process title) that it refuses connections because of the load. */
export function refusesForLoad(output: string): boolean {
  return REFUSAL_TITLE.test(output);
}

/**
 * The addresses the cf's daemons on port 25 listen on: "O DaemonPortOptions=Family=inet, Name=MTA-v4,
 * Port=smtp, Addr=127.0.0.1"; no Addr means every address of its family (0.0.0.0 or ::).
 */
export function smtpDaemonAddresses(cfLines: string): string[] {
  return smtpDaemons(cfLines).map(({ opts }) => {
    const v6 = (opts.get('Family') ?? opts.get('F')) === 'inet6';
    return opts.get('Addr') ?? opts.get('A') ?? (v6 ? '::' : '0.0.0.0');
  });
}

/** The cf's daemons on port 25 (no Port is port 25): each line, and its options by name. */
export function smtpDaemons(cfLines: string): { line: string; opts: Map<string, string> }[] {
  const daemons: { line: string; opts: Map<string, string> }[] = [];
  for (const line of cfLines.split('\n')) {
    const m = /^O DaemonPortOptions=(.*)$/.exec(line.trim());
    if (!m) continue;
    const opts = new Map(
      m[1]
        .split(',')
        .map((kv) => kv.trim().split('=') as [string, string])
        .map(([k, v]) => [k.trim(), (v ?? '').trim()]),
    );
    const port = opts.get('Port') ?? opts.get('P') ?? 'smtp';
    if (port !== 'smtp' && port !== '25') continue;
    daemons.push({ line: line.trim(), opts });
  }
  return daemons;
}

/** The last lines sendmail logged, wherever this host keeps them (Debian, RHEL, journald). */
const LOG_TAIL_COMMAND =
  'for f in /var/log/mail.log /var/log/maillog; do [ -r "$f" ] && { tail -n 15 "$f"; exit 0; }; done; journalctl -q -n 15 -t sm-mta -t sendmail 2>/dev/null; true';

async function sendmailEvidence(exec: VerifyContext['exec']): Promise<string[]> {
  // the daemon's process title tells what it does ("rejecting connections on daemon MTA-v4: load average: 31")
  const r = await exec(`ss -ltnH 2>/dev/null || netstat -ltn 2>/dev/null; ${LOAD_FACTS_COMMAND}; ${LOG_TAIL_COMMAND}`);
  return redact(r.stdout)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => `  ${l}`);
}

/** Server replies (lines starting with a reply code) and status lines of a `sendmail -v` transcript; never client lines. */
export function transcriptEvidence(output: string): string[] {
  return redact(output)
    .split('\n')
    .filter(
      (l) =>
        /^\d{3}[ -]/.test(l) ||
        /\.\.\. (Sent|Deferred|User unknown|Connecting|Service unavailable)/.test(l) ||
        /^>>> (STARTTLS|EHLO|MAIL|RCPT|DATA|QUIT)/.test(l),
    )
    .map((l) => `  ${l}`)
    .slice(-25);
}

/**
 * `plan --probe`: the sender domain's SPF and DMARC (looked up from the controller), the smart host
 * as this host would reach it with the settings to be applied, and whether the relay config on
 * disk is open (sendmail -bt reads the files; the running daemon keeps
 * what it loaded at its start, and the probe says when the file is newer). The access map on disk
 * may not have the planned relayFrom yet, so only loopback is asked to be let in; every outsider
 * must be refused all the same.
 */
export async function probeRelay(ctx: ProbeContext, settings: SendmailSettings): Promise<void> {
  // the sender domain's SPF and DMARC first, so that what to publish is said even when the smart
  // host then fails; a required check fails the host after the other checks have had their say
  let senderFailures: Awaited<ReturnType<typeof probeSenderAuthentication>> = [];
  await sideBySide(ctx, [
    async (c) => {
      senderFailures = await probeSenderAuthentication(c, settings);
    },
    (c) => probeSmartHosts(c, settings),
    (c) => probeLiveConfig(c, settings),
  ]);
  if (senderFailures.length) throw senderAuthFailure(senderFailures);
}

async function probeLiveConfig(ctx: ProbeContext, settings: SendmailSettings): Promise<void> {
  if ((await ctx.exec(`[ -x ${SENDMAIL} ] && [ -f ${MAIL_DIR}/sendmail.cf ]`)).code !== 0) {
    ctx.log('sendmail is not installed yet: no open-relay check of the live config');
    return;
  }
  // sendmail -bt reads sendmail.cf from disk; the daemon keeps the one it loaded at its start
  const fqdn = ctx.facts.os.fqdn;
  await checkNotOpenRelay(ctx.exec, { ...settings, relayFrom: [] }, (l) => ctx.info(`${CF_ON_DISK}: ${l}`), { fqdn });
  const ages = parseCfAge((await ctx.exec(CF_AGE_COMMAND)).stdout);
  const stale = ages.daemonStarted !== undefined && ages.cfWritten !== undefined && ages.cfWritten > ages.daemonStarted;
  if (ages.daemonStarted === undefined) ctx.info('no running sendmail daemon was found: the check above is of the config on disk only');
  else if (stale)
    ctx.warn(
      `${MAIL_DIR}/sendmail.cf was written after the running sendmail daemon started: the daemon still runs the config it loaded then, which the open-relay check did not test (restart sendmail, or apply, to make them one)`,
    );
}

/** How the probe's open-relay result is labelled: it is sendmail -bt's reading of the file, not the daemon's memory. */
export const CF_ON_DISK = `${MAIL_DIR}/sendmail.cf on disk (as sendmail -bt reads it, not necessarily what the running daemon loaded)`;

/**
 * The start of the sendmail daemon (boot time + its start in clock ticks, from /proc: the mtime of
 * /proc/<pid> is when the kernel first showed it, not when it started) and sendmail.cf's last
 * write, in seconds since the epoch.
 */
export const CF_AGE_COMMAND = `p=$(pgrep -o -f '^sendmail: (MTA: )?(accepting|rejecting) connections' 2>/dev/null); if [ -n "$p" ]; then echo "daemon $(( $(awk '/^btime/ {print $2}' /proc/stat) + $(awk '{print $22}' /proc/$p/stat) / $(getconf CLK_TCK) ))"; fi; echo "cf $(stat -c %Y ${MAIL_DIR}/sendmail.cf 2>/dev/null)"`;

export function parseCfAge(output: string): { daemonStarted?: number; cfWritten?: number } {
  const field = (k: string) => {
    const v = new RegExp(`^${k} (\\d+)$`, 'm').exec(output)?.[1];
    return v === undefined ? undefined : Number(v);
  };
  return { daemonStarted: field('daemon'), cfWritten: field('cf') };
}

/**
 * The running daemon is the one started on the sendmail.cf on disk: it started after the cf was
 * last written (a daemon older than its cf runs a config it loaded before).
 */
async function verifyDaemonRunsCf(ctx: VerifyContext): Promise<void> {
  const ages = parseCfAge((await ctx.exec(CF_AGE_COMMAND)).stdout);
  if (ages.daemonStarted === undefined || ages.cfWritten === undefined) {
    ctx.log(`the sendmail daemon's start (its process title) or ${MAIL_DIR}/sendmail.cf's age could not be read: not compared`);
    return;
  }
  // /proc gives the start from a boot time rounded down to the second: one second of slack
  if (ages.cfWritten > ages.daemonStarted + 1)
    throw new OperationError(
      `verification failed: the running sendmail daemon started before ${MAIL_DIR}/sendmail.cf was written: it runs a config it loaded earlier, not the one just built`,
    );
  ctx.log(`the running sendmail daemon started after ${MAIL_DIR}/sendmail.cf was written`);
}

/** Whether sendmail ran when this run read the host's facts (before its changes); unknown counts as yes. */
function ranBefore(ctx: VerifyContext): boolean {
  try {
    return ctx.facts.get(serviceFact, SENDMAIL_SERVICE).running;
  } catch {
    return true;
  }
}

export async function verifyRelay(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const { exec, log } = ctx;
  // (another MTA's /usr/sbin/sendmail, put back by rollback --packages, has no makemap)
  if (ctx.mode === 'rollback' && (await exec(`[ -x ${SENDMAIL} ] && command -v makemap >/dev/null 2>&1`)).code !== 0) {
    // a first apply that failed before sendmail was installed, or a rollback --packages that
    // removed it: the host is back to having none
    log('sendmail is not installed: nothing to verify');
    return;
  }
  // as the plan reads it: systemd's word, else the daemon's pid files (Debian's init script says
  // "running" of a stopped sendmail, and takes 50 ms or more to say it)
  const running = async () => serviceFact.parse((await exec(serviceFact.script(SENDMAIL_SERVICE))).stdout, SENDMAIL_SERVICE).running;
  if (ctx.mode === 'rollback' && !ranBefore(ctx) && !(await running())) {
    // a rollback starts nothing that was not running before (the service resource plans it so): a
    // sendmail installed by the apply rolled back, never started, is stopped as the host had none
    log('sendmail was not running before, and a rollback starts nothing: it stays stopped');
  } else {
    await retry('sendmail is not running after the restart', running);
    log('sendmail is running');
  }
  if (ctx.mode === 'rollback') {
    // the restored config may predate the relay: it only has to be one sendmail accepts
    const cf = await exec(`${SENDMAIL} -bt -d0.1 </dev/null >/dev/null 2>&1`);
    if (cf.code !== 0) throw new OperationError('verification failed: sendmail rejects the restored sendmail.cf');
    log('the restored sendmail.cf is valid');
    return;
  }

  const wanted = settings.listen.map((a) => (isV6(a) ? `[${a}]:25` : `${a}:25`));
  const listening = async () => {
    const r = await exec('ss -ltnH 2>/dev/null || netstat -ltn 2>/dev/null');
    const local = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[3] ?? '');
    return settings.listen.every((a) => listensOn(a, local));
  };
  // A busy host is not a broken config: while the load average is at or above RefuseLA, sendmail
  // closes its sockets (and says so in its title) until the load drops. Then the daemons of the live
  // cf are what can be checked; rolling back a right config would not help.
  let loadFacts = ''; // of the last look that found no listener
  const settled = await poll(
    async () => (await listening()) || refusesForLoad((loadFacts = (await exec(LOAD_FACTS_COMMAND)).stdout)),
    10_000,
  );
  if (settled && !refusesForLoad(loadFacts)) {
    log(`listening on ${wanted.join(', ')}`);
  } else {
    const refusal = loadRefusal(loadFacts);
    if (!refusal)
      throw new OperationError(`verification failed: sendmail does not listen on ${wanted.join(', ')}`, await sendmailEvidence(exec));
    const configured = smtpDaemonAddresses(loadFacts);
    // a cf with `::` and no IPv4 daemon is a dual-stack one (listen.ts): its `::` serves IPv4 too
    const served = (a: string) => configured.includes(a) || (!isV6(a) && configured.includes('::'));
    const missing = settings.listen.filter((a) => !served(a));
    if (missing.length) {
      throw new OperationError(
        `verification failed: the live sendmail.cf has no daemon on ${missing.map((a) => `${a}:25`).join(', ')}`,
        await sendmailEvidence(exec),
      );
    }
    ctx.warn(
      `sendmail refuses connections while the load average (${refusal.load}) is at or above its RefuseLA (${refusal.refuseLA}); ` +
        `its sendmail.cf has daemons on ${wanted.join(', ')}, which listen once the load drops (listening not verified)`,
    );
  }

  if (settings.submission) await verifySubmission(exec, settings.submission, log);

  // what sendmail now does, read without sending anything: these do not depend on one another
  await sideBySide(ctx, [
    (c) => verifyRouting(c, settings),
    (c) => verifyMaps(c, settings),
    (c) => verifyDaemonRunsCf(c),
    (c) => checkNotOpenRelay(c.exec, settings, c.log, { fqdn: c.facts.os.fqdn }),
    (c) => verifySenderRewriting(c, settings),
    ...(settings.probeSmartHost ? [(c: VerifyContext) => probeSmartHosts(c, settings)] : []),
  ]);
  // then the one check that sends: a test message only once every check above held
  if (settings.verify) await sendTestMessage(ctx, settings);
  await flushQueue(ctx, settings);
}

/** Mail to the verify recipient goes to the smart host (or the failover list), and each route's mail to its own. */
async function verifyRouting(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const { exec, log } = ctx;
  const probe = settings.verify?.recipient ?? 'postmaster@example.com';
  const route = await exec(`echo ${sh`${`3,0 ${probe}`}`} | ${SENDMAIL} -bt`);
  // -bt prints tokens spaced out: "$# relay $@ [ smtp . gmail . com ] $: ..."
  const parsed = /^\s*parse\s+returns: \$# (\S+) \$@ (.*?) \$:/m.exec(route.stdout);
  const relay = parsed ? [parsed[1], parsed[2].replace(/\s+/g, '')] : undefined;
  // the host list of a failover, in its order: "[a]:[b]"
  const expected = smartHostList(settings)
    .map((h) => `[${h.smartHost}]`)
    .join(':');
  if (relay?.[0] !== 'relay' || relay[1] !== expected) {
    throw new OperationError(
      `verification failed: mail to ${probe} is not routed to the smart host ${settings.fallbackSmartHosts.length ? `list ${expected}` : settings.smartHost}`,
      transcriptEvidence(route.stdout).concat(
        route.stdout
          .split('\n')
          .filter((l) => l.includes('$#'))
          .map((l) => `  ${l}`),
      ),
    );
  }
  log(`mail to ${probe} routes to ${relay[1]} (${relay[0]} mailer)`);
  for (const r of routeList(settings)) await verifyRoute(ctx, r, routeMailer(r, settings.smartHostPort));
}

/** Messages that waited before the apply (deferred by the old config, say) leave now. */
async function flushQueue(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const before = ctx.facts.get(mailQueueFact, undefined);
  if (before.count === 0) return;
  const after = parseQueue((await ctx.exec(flushCommand(SENDMAIL))).stdout);
  const left = Math.max(0, before.count - after.count);
  const still = after.count ? `; ${after.count} still queued${after.messages[0]?.reason ? ` (${after.messages[0].reason})` : ''}` : '';
  ctx.info(`mail queue flushed: ${left} of ${before.count} waiting message(s) left${still}`);
  const d = after.messages.map((m) => diagnoseText(m.reason, diagnoseContext(settings, ctx))).find(Boolean);
  if (d) ctx.warn(`messages still wait in the queue: ${oneLine(d)}`);
}

async function sendTestMessage(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const { exec, log } = ctx;
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
  // The probe lifts QueueLA (as root may): on a busy host the message would only be queued, and a
  // busy relay could not be told from a broken one.
  const r = await exec(sh`${SENDMAIL} -Am -v -odi -oi -O QueueLA=100000 -f ${from} -- ${settings.verify.recipient}`, message);
  const evidence = transcriptEvidence(r.stdout + '\n' + r.stderr);
  const sent = /\.\.\. Sent \(/.test(r.stdout);
  const tls = /^>>> STARTTLS/m.test(r.stdout) && /^220 /m.test(r.stdout.split('>>> STARTTLS')[1] ?? '');
  const authed = /^235[ -]/m.test(r.stdout);
  if (r.code !== 0 || !sent) {
    // the cause, from the dialogue, else from what sendmail logged
    const d =
      diagnoseText(evidence.join('\n'), diagnoseContext(settings, ctx)) ??
      diagnoseText((await sendmailEvidence(exec)).join('\n'), diagnoseContext(settings, ctx));
    throw new OperationError(
      `verification failed: the test message did not leave through ${settings.smartHost}${d ? `: ${oneLine(d)}` : ''}`,
      evidence,
    );
  }
  if (settings.auth && !authed) throw new OperationError('verification failed: the test message was sent without SMTP AUTH', evidence);
  log(
    `test message <${id}> relayed through ${settings.smartHost}:${settings.smartHostPort}${tls ? ' over STARTTLS' : ''}${authed ? ' with AUTH' : ''}`,
  );
}

/** A route: sendmail sends mail for its domain (and a subdomain) to its own smart host, with its mailer. */
async function verifyRoute(ctx: VerifyContext, r: RouteHost, mailer: string): Promise<void> {
  for (const to of [`postmaster@${r.domain}`, `postmaster@mailprov-route-check.${r.domain}`]) {
    const out = (await ctx.exec(`echo ${sh`${`3,0 ${to}`}`} | ${SENDMAIL} -bt`)).stdout;
    const parsed = /^\s*parse\s+returns: \$# (\S+) \$@ (.*?) \$:/m.exec(out);
    const got = parsed ? `${parsed[1]} ${parsed[2].replace(/\s+/g, '')}` : '(no route)';
    if (got !== `${mailer} [${r.smartHost}]`)
      throw new OperationError(
        `verification failed: mail to ${to} is routed to ${got}, not to the route's smart host [${r.smartHost}] (${mailer} mailer)`,
      );
  }
  ctx.log(`mail to ${r.domain} and its subdomains routes to [${r.smartHost}] (${mailer} mailer)`);
}

/** saslauthd runs and its socket is the one Sendmail.conf names (`users: 'pam'`). */
export const SASLAUTHD_ANSWERS =
  "p=$(sed -n 's/^saslauthd_path: *//p' /etc/sasl2/Sendmail.conf); " +
  'if [ ! -S "$p" ]; then echo "no socket at ${p:-(no saslauthd_path)}"; exit 1; fi; ' +
  'pgrep -x saslauthd >/dev/null || { echo "no saslauthd process"; exit 1; }';

/**
 * Submission (issue 32), as the live sendmail has it: a daemon on the port at each address, and
 * AUTH offered only after STARTTLS (`p` in the cf's AuthOptions, as sendmail reads it).
 */
export async function verifySubmission(
  exec: VerifyContext['exec'],
  sub: NonNullable<SendmailSettings['submission']>,
  log: (line: string) => void,
): Promise<void> {
  const wanted = sub.listen.map((a) => `${a}:${sub.port}`);
  const listening = async () => {
    const r = await exec('ss -ltnH 2>/dev/null || netstat -ltn 2>/dev/null');
    const local = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[3] ?? '');
    return wanted.every((w) => local.includes(w) || (w.startsWith('0.0.0.0:') && local.includes(`*:${sub.port}`)));
  };
  if (!(await poll(listening, 10_000)))
    throw new OperationError(
      `verification failed: sendmail does not listen for submission on ${wanted.join(', ')}`,
      await sendmailEvidence(exec),
    );
  const options = (await exec(`grep '^O AuthOptions=' ${MAIL_DIR}/sendmail.cf`)).stdout.trim();
  if (!/^O AuthOptions=.*\bp\b/.test(options))
    throw new OperationError('verification failed: the live sendmail.cf would offer AUTH before STARTTLS (no `p` in AuthOptions)', [
      `  ${options || '(no AuthOptions line)'}`,
    ]);
  // port 25 takes no AUTH at all (M=A): AUTH belongs to the submission port
  const daemons = smtpDaemons((await exec(`grep '^O DaemonPortOptions=' ${MAIL_DIR}/sendmail.cf`)).stdout);
  const offering = daemons.filter(({ opts }) => !(opts.get('Modifiers') ?? opts.get('M') ?? '').includes('A'));
  if (offering.length)
    throw new OperationError('verification failed: the live sendmail.cf would offer AUTH on port 25 (no `M=A` on its daemon)', [
      ...offering.map((d) => `  ${d.line}`),
    ]);
  // the host's PAM users: sendmail asks saslauthd, so saslauthd must be there to answer (an init
  // script may exit 0 without starting it: Debian 12's does without START=yes)
  if (sub.users === 'pam') {
    const r = await exec(SASLAUTHD_ANSWERS);
    if (r.code !== 0)
      throw new OperationError(
        'verification failed: saslauthd is not running on the socket Sendmail.conf names: no PAM user can authenticate',
        [`  ${`${r.stdout}${r.stderr}`.trim().replace(/\s+/g, ' ') || `exit ${r.code}`}`],
      );
  }
  log(
    `submission: listening on ${wanted.join(', ')}, AUTH only after STARTTLS (${options}), none on port 25${sub.users === 'pam' ? ', saslauthd answering' : ''}`,
  );
}
