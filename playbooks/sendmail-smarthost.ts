// The sendmail smart-host relay (see docs/sendmail.md): install sendmail, render sendmail.mc,
// authinfo and access, rebuild maps and sendmail.cf (validated before it goes live), open TCP 25,
// restart only when sendmail.cf changed, then prove the relay works.
import { readFileSync } from 'node:fs';
// Like any user's playbook it takes the engine from 'mailprov' only; its own parts (settings,
// renderers, lint, host commands) are in ./sendmail-smarthost/.
import {
  absentFile,
  command,
  definePlaybook,
  file,
  firewallFact,
  fileId,
  firewallRule,
  packages,
  service,
  serviceId,
  type Finding,
  type HostFacts,
  type ProbeContext,
  type VerifyContext,
} from 'mailprov';
import { sendmailSettingsSchema, type SendmailSettings } from './sendmail-smarthost/settings.ts';
import {
  applyForce,
  lintMc,
  lintMcForDistro,
  lintSettingsBeforeConnecting,
  lintSettingsForHost,
  lintUserMcTls,
} from './sendmail-smarthost/lint.ts';
import { lintRelayFeatures } from './sendmail-smarthost/relay-features.ts';
import {
  GENERICS_TABLE,
  maskAuthinfo,
  maskAuthinfoLines,
  renderAccessFor,
  renderAuthinfoFor,
  renderGenericsTable,
  renderMailertable,
  renderMc,
  allSmartHosts,
  MAILERTABLE,
  routeList,
  renderSaslConf,
  SUBMISSION_PATHS,
  submissionRealm,
} from './sendmail-smarthost/render.ts';
import { distroOf } from './sendmail-smarthost/distro.ts';
import {
  MAIL_DIR,
  SENDMAIL_SERVICE,
  validateMcCommand,
  makeCommand,
  makemapCommand,
  probeRelay,
  verifyRelay,
} from './sendmail-smarthost/host.ts';
import { diagnoseContext } from './sendmail-smarthost/probe.ts';
import { mapInSyncCommand } from './sendmail-smarthost/maps.ts';
import { mailQueueFact, queueFinding } from './sendmail-smarthost/queue.ts';
import { probeStatus, readRelayStatus, relayStatusFact } from './sendmail-smarthost/status.ts';
import { bindV6OnlyFact, isV6 } from './sendmail-smarthost/listen.ts';
import { relaySources, smtpOpening } from './sendmail-smarthost/firewall-sources.ts';
import { provePortOpen } from './sendmail-smarthost/port-proof.ts';
import { SUBMISSION_USERS_ID, submissionUsers } from './sendmail-smarthost/submission.ts';
import { lintSubmission } from './sendmail-smarthost/submission-lint.ts';
import { saslauthdMux, saslauthdResources } from './sendmail-smarthost/saslauthd.ts';
import {
  hostCertFindings,
  isPushed,
  SUBMISSION_CERT_ID,
  submissionCert,
  submissionCertFact,
  type SubmissionTls,
} from './sendmail-smarthost/submission-cert.ts';

export { sendmailSettingsSchema, type SendmailSettings, type SendmailSettingsInput } from './sendmail-smarthost/settings.ts';
export { controllerProbe } from './sendmail-smarthost/port-proof.ts';
export type { SmtpPortProber, ProbeOutcome } from './sendmail-smarthost/prober.ts';

/**
 * What `make` in /etc/mail may write: both cf files, every hash map the distros' Makefiles build
 * (authinfo.db holds the password), Debian's files generated from the mc and RHEL's backups of
 * the cf. A path absent before is recorded as such, and removed by a rollback.
 */
export const MAKE_OUTPUTS = [
  // RHEL's make keeps the cf it replaces as .cf.bak
  ...['databases', 'Makefile', 'sendmail.cf.bak', 'submit.cf.bak', 'sendmail.cf', 'submit.cf'].map((f) => ({ path: `${MAIL_DIR}/${f}` })),
  ...['access', 'genericstable', 'mailertable', 'virtusertable', 'domaintable'].map((m) => ({ path: `${MAIL_DIR}/${m}.db` })),
  { path: `${MAIL_DIR}/authinfo.db`, sensitive: true },
];

const STALE = (map: string) =>
  `${MAIL_DIR}/${map}.db does not hold what ${MAIL_DIR}/${map} says (rebuilt by hand, or a makemap that failed)`;

/**
 * The MTAs sendmail replaces and the packages that go with them (on RHEL, where nothing says
 * mail-transport-agent, by name): a removal of one of these is the playbook's job, any other refused.
 */
export const MTA_PACKAGES = [
  'exim4',
  'exim4-base',
  'exim4-config',
  'exim4-daemon-light',
  'exim4-daemon-heavy',
  'postfix',
  'exim',
  'opensmtpd',
  'nullmailer',
  'msmtp-mta',
  'dma',
  'ssmtp',
];

/** The daemons of those MTAs: one running is stopped for sendmail, and started again by `rollback --packages`. */
export const MTA_SERVICES = ['exim4', 'postfix', 'exim', 'opensmtpd'];

export const SUBMISSION_RULE = (port: number) => `-p tcp -m state --state NEW -m tcp --dport ${port} -j ACCEPT`;

/**
 * The submission port in the firewall that decides, as port 25 is: to `submission.from`'s networks,
 * or to everyone (the default: AUTH is required there). The port stays open while any firewall
 * decides; IPv4 only, as the MSA daemon listens.
 */
function submissionRules(settings: SendmailSettings) {
  const sub = settings.submission;
  if (!sub) return [];
  const opening = smtpOpening(sub.from ?? [], sub.from ? 'relayFrom' : 'everyone');
  const open = { ...opening, port: sub.port };
  return [
    firewallRule({
      chain: 'INPUT',
      rule: SUBMISSION_RULE(sub.port),
      ...(sub.port === 587 ? { firewalldService: 'submission' } : {}),
      open,
    }),
  ];
}

/**
 * The server side of submission: Cyrus SASL's configuration for sendmail, the server's certificate
 * and key (pushed: the key a secret, masked, 0600; or made per host, submission-cert.ts), and the
 * users. A changed certificate, key or SASL configuration is read by a restarted sendmail only.
 */
function submissionResources(sub: NonNullable<SendmailSettings['submission']>, sendmail: string) {
  const pam = sub.users === 'pam';
  return [
    // the host's PAM users: saslauthd first (its package came with sendmail's), so sendmail finds it
    ...(pam ? saslauthdResources() : []),
    file({
      path: SUBMISSION_PATHS.saslConf,
      content: (facts) => renderSaslConf(pam ? { saslauthdMux: saslauthdMux(facts) } : {}),
      owner: 'root',
      group: 'root',
      mode: '0644',
      notify: [sendmail],
    }),
    ...certResources(sub.tls, sendmail),
    ...(sub.users === 'pam'
      ? []
      : [
          submissionUsers({
            users: sub.users,
            realm: (facts) => submissionRealm(sub, facts.os.fqdn),
            // sendmail's own group on both families (Debian's /etc/mail is smmta:smmsp; RHEL's sendmail creates smmsp)
            group: 'smmsp',
          }),
        ]),
  ];
}

/** The submission certificate and key: two files from the controller, or one made per host. */
function certResources(tls: SubmissionTls, sendmail: string) {
  if (!isPushed(tls)) return [submissionCert({ tls, notify: [sendmail] })];
  return [
    file({
      path: SUBMISSION_PATHS.cert,
      content: () => readFileSync(tls.cert, 'utf8'),
      owner: 'root',
      group: 'root',
      mode: '0644',
      notify: [sendmail],
    }),
    file({
      path: SUBMISSION_PATHS.key,
      // revealed at plan time, on the controller, only to become file content sent over stdin
      content: () => `${tls.key.reveal()}\n`,
      owner: 'root',
      group: 'root',
      mode: '0600',
      mask: () => '(private key, masked)\n',
      notify: [sendmail],
    }),
  ];
}

export const SMTP_RULE = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';

/**
 * TCP 25 in the firewall that decides, for relayFrom's networks (or everyone, with smtpPortFrom:
 * 'everyone'): iptables, a rule per network (ip6tables too when sendmail listens on an IPv6
 * address, `::` included), firewalld's rich rules (its smtp service for everyone), or ufw's or
 * nftables' own rules.
 */
function smtpRules(settings: SendmailSettings) {
  if (!settings.openSmtpPort) return [];
  const v6 = settings.listen.some(isV6);
  const open = smtpOpening(settings.relayFrom, settings.smtpPortFrom);
  return [
    firewallRule({ chain: 'INPUT', rule: SMTP_RULE, firewalldService: 'smtp', open }),
    ...(v6 ? [firewallRule({ family: 'ipv6', chain: 'INPUT', rule: SMTP_RULE, firewalldService: 'smtp', open })] : []),
  ];
}

/** iptables-persistent saves iptables rules at boot: only where iptables is the firewall (ufw Breaks it). */
const needsIptablesPersistent = (facts: HostFacts) => ['iptables', 'none'].includes(facts.get(firewallFact, undefined).manager);

export const sendmailSmartHost = definePlaybook({
  name: 'sendmail-smarthost',
  settings: sendmailSettingsSchema,
  build(settings: SendmailSettings) {
    const userMc = settings.mc && 'path' in settings.mc ? readFileSync(settings.mc.path, 'utf8') : undefined;
    // a `::` daemon is dual-stack unless the host's bindv6only says otherwise (listen.ts)
    const mcText = (facts: HostFacts) =>
      renderMc(settings, distroOf(facts), userMc, { fqdn: facts.os.fqdn, v6only: facts.get(bindV6OnlyFact, undefined) });
    const mc = `${MAIL_DIR}/sendmail.mc`;
    const authinfo = `${MAIL_DIR}/authinfo`;
    const access = `${MAIL_DIR}/access`;
    const sendmail = serviceId('sendmail');
    // AUTH to any smart host of the list: SASL's plugins, and an authinfo line per authenticating host
    const auth = allSmartHosts(settings).some((h) => h.auth);
    const sub = settings.submission;
    const certPaths = { cert: SUBMISSION_PATHS.cert, key: SUBMISSION_PATHS.key };
    const certQuery = submissionCertFact.query(certPaths);
    // a certificate made on the host: its key and request, by the openssl CLI (Debian's sendmail
    // needs only libssl; RHEL's @core always has openssl)
    const hostOpenssl = sub && !isPushed(sub.tls) ? ['openssl'] : [];

    const resources = [
      packages({
        name: 'sendmail',
        names: {
          // submission: Cyrus SASL's server side too (saslpasswd2, sasldblistusers2, the sasldb plugin)
          debian: ['sendmail', 'sendmail-cf', ...(auth || sub ? ['libsasl2-modules'] : []), ...(sub ? ['sasl2-bin'] : []), ...hostOpenssl],
          rhel: ['sendmail', 'sendmail-cf', ...(auth || sub ? ['cyrus-sasl-plain'] : []), ...(sub ? ['cyrus-sasl'] : [])],
        },
        // sendmail takes the host's MTA's place: every MTA provides mail-transport-agent (Debian)
        // and conflicts with sendmail; the other packages listed go with their MTA
        replaces: {
          provides: ['mail-transport-agent'],
          packages: MTA_PACKAGES,
          by: 'sendmail',
          services: MTA_SERVICES,
          service: 'sendmail',
        },
        recommends: settings.packages.recommends,
        allowRemove: settings.packages.allowRemove,
        refuseUpgrades: settings.packages.refuseUpgrades,
        lockWaitSeconds: settings.packages.lockWaitSeconds,
      }),
      // the rule's persistence at boot on Debian, only where iptables decides: its own transaction,
      // since on a ufw host it would take ufw away
      ...(settings.openSmtpPort || sub
        ? [
            packages({
              name: 'iptables-persistent',
              names: { debian: ['iptables-persistent'], rhel: [] },
              when: { test: needsIptablesPersistent, otherwise: 'the firewall that decides on this host persists its own rules' },
              recommends: settings.packages.recommends,
              allowRemove: settings.packages.allowRemove,
              refuseUpgrades: settings.packages.refuseUpgrades,
              lockWaitSeconds: settings.packages.lockWaitSeconds,
            }),
          ]
        : []),
      file({ path: mc, content: mcText, owner: 'root', group: 'smmsp', mode: '0644', validate: validateMcCommand('%s') }),
      auth
        ? file({
            path: authinfo,
            // revealed at plan time, on the controller, only to become file content sent over stdin
            content: () => renderAuthinfoFor(settings) ?? '',
            owner: 'root',
            group: 'root',
            mode: '0600',
            mask: maskAuthinfo,
          })
        : // without auth, credentials mailprov wrote do not stay behind (a file of the host's own does)
          // (an authinfo with no password, as Debian's make recreates it empty, holds nothing)
          absentFile({ path: authinfo, mask: maskAuthinfo, onlyIfWritten: true, holds: (t) => maskAuthinfo(t) !== t }),
      // declared without auth too: the .db follows its text when it goes, by apply or by rollback.
      // The journal keeps the .db itself, so a rollback removes or restores it with no playbook bound.
      command({
        name: 'makemap authinfo',
        run: makemapCommand('authinfo'),
        onChangeOf: [fileId(authinfo)],
        // drift: a .db that does not hold what its text says (rebuilt or emptied by hand) is rebuilt
        ...(auth ? { creates: `${authinfo}.db`, unless: mapInSyncCommand('authinfo'), unlessSays: STALE('authinfo') } : {}),
        files: [{ path: `${authinfo}.db`, sensitive: true }],
      }),
      file({
        path: access,
        content: renderAccessFor(settings),
        owner: 'root',
        group: 'root',
        mode: '0644',
        // the host's own access map may hold AuthInfo lines (sendmail reads them there without
        // FEATURE(authinfo)): their passwords never show in a diff
        mask: maskAuthinfoLines,
        sensitive: 'when-masked',
      }),
      command({
        name: 'makemap access',
        run: makemapCommand('access'),
        onChangeOf: [fileId(access)],
        creates: `${access}.db`,
        unless: mapInSyncCommand('access'),
        unlessSays: STALE('access'),
        files: [{ path: `${access}.db` }],
      }),
      ...(settings.genericsTable
        ? [file({ path: GENERICS_TABLE, content: renderGenericsTable(settings.genericsTable), owner: 'root', group: 'root', mode: '0644' })]
        : []),
      // declared without a genericsTable too: a rollback that removes the table (an inventory that
      // no longer has one) still removes its .db
      command({
        name: 'makemap genericstable',
        run: makemapCommand('genericstable'),
        onChangeOf: [fileId(GENERICS_TABLE)],
        ...(settings.genericsTable ? { creates: `${GENERICS_TABLE}.db` } : {}),
        files: [{ path: `${GENERICS_TABLE}.db` }],
      }),
      ...(routeList(settings).length
        ? [file({ path: MAILERTABLE, content: renderMailertable(settings), owner: 'root', group: 'root', mode: '0644' })]
        : []),
      // declared without routes too: a rollback that removes the table still removes its .db
      command({
        name: 'makemap mailertable',
        run: makemapCommand('mailertable'),
        onChangeOf: [fileId(MAILERTABLE)],
        ...(routeList(settings).length ? { creates: `${MAILERTABLE}.db` } : {}),
        files: [{ path: `${MAILERTABLE}.db` }],
      }),
      // sendmail.cf is rebuilt only from an mc that validated; `make` itself hides m4 errors
      // the journal keeps what make writes, so a rollback puts back the cf and maps that ran,
      // never rebuilt from an mc that may not build
      command({ name: `make in ${MAIL_DIR}`, run: makeCommand(), onChangeOf: [fileId(mc)], notify: [sendmail], files: MAKE_OUTPUTS }),
      // before the relabelling below, which watches its files
      ...(sub ? submissionResources(sub, sendmail) : []),
      // a file moved into /etc/mail keeps the label of where it was written: relabel (RHEL, SELinux)
      command({
        name: `restorecon ${MAIL_DIR}`,
        run: `restorecon -R ${MAIL_DIR}`,
        onChangeOf: [
          fileId(mc),
          fileId(access),
          fileId(GENERICS_TABLE),
          fileId(authinfo),
          fileId(MAILERTABLE),
          // submission's certificate, key and sasldb (written in /etc/mail too)
          fileId(SUBMISSION_PATHS.cert),
          fileId(SUBMISSION_PATHS.key),
          SUBMISSION_CERT_ID,
          SUBMISSION_USERS_ID,
        ],
        when: { test: (facts) => facts.os.selinux, otherwise: 'SELinux is not enabled' },
      }),
      ...smtpRules(settings),
      ...submissionRules(settings),
      // RHEL 7+ runs the client queue runner as a unit of its own, restarted with the daemon
      service({
        ...SENDMAIL_SERVICE,
        onNotify: 'restart',
        companions: (facts) => (facts.os.family === 'rhel' && facts.os.serviceManager === 'systemd' ? ['sm-client'] : []),
      }),
    ];

    return {
      resources,
      facts: [
        mailQueueFact.query(),
        bindV6OnlyFact.query(),
        ...(settings.openSmtpPort || sub ? [firewallFact.query()] : []),
        ...(sub ? [certQuery] : []),
      ],
      lint(): Finding[] {
        const findings: Finding[] = [];
        for (const h of allSmartHosts(settings)) {
          try {
            h.auth?.password.reveal();
          } catch (err) {
            findings.push({ level: 'error', code: 'secret-missing', message: (err as Error).message });
          }
        }
        findings.push(...lintSubmission(settings));
        // the checks that need the host (its distro, its name) run in checkFacts
        findings.push(...lintSettingsBeforeConnecting(settings));
        if (userMc !== undefined || (settings.mc && 'text' in settings.mc)) {
          const text = userMc ?? (settings.mc as { text: string }).text;
          findings.push(...lintMc(text, undefined), ...lintUserMcTls(text, settings));
        }
        // force downgrades what the lint says the mc means, never an injection or a missing secret;
        // nor a relay-widening FEATURE: only allowRelayFeatures, naming it, lets one through
        const underived = relaySources(settings.relayFrom).underived;
        if (settings.openSmtpPort && settings.smtpPortFrom === 'relayFrom' && underived.length)
          findings.push({
            level: 'warning',
            code: 'firewall-source-unknown',
            message: `port 25 opens to relayFrom's networks only, in whichever firewall decides, but ${underived.map((u) => `"${u}"`).join(', ')} names no network a firewall can match (it stays shut to it): name its addresses (192.168, IPv6:2001:db8), or set smtpPortFrom: 'everyone'`,
          });
        const mcText = userMc ?? (settings.mc && 'text' in settings.mc ? settings.mc.text : undefined);
        return [...applyForce(findings, settings.force), ...lintRelayFeatures(settings, mcText)];
      },
      checkFacts(facts: HostFacts): Finding[] {
        if (facts.os.family === 'unknown') {
          return [{ level: 'error', code: 'unsupported-os', message: `${facts.os.prettyName} is neither Debian- nor RHEL-like` }];
        }
        const findings = lintSettingsForHost(settings, { distro: distroOf(facts), hostFqdn: facts.os.fqdn });
        if (settings.mc) {
          const text = userMc ?? (settings.mc as { text: string }).text;
          findings.push(...lintMcForDistro(text, distroOf(facts)));
        }
        findings.push(...queueFinding(facts.get(mailQueueFact, undefined), diagnoseContext(settings, { facts })));
        // the host's submission certificate as it is: its names and when it expires
        if (sub) findings.push(...hostCertFindings(facts.get(submissionCertFact, certPaths)));
        return applyForce(findings, settings.force);
      },
      verify: async (ctx: VerifyContext) => {
        await verifyRelay(ctx, settings);
        await provePortOpen(ctx, settings);
      },
      // `plan --probe`: the smart host as this host would reach it, and whether the live relay is open
      probe: (ctx: ProbeContext) => probeRelay(ctx, settings),
      // `mailprov status`: is mail flowing (the daemon, the queue, the log, and the probe's figures)
      status: {
        facts: [mailQueueFact.query(), relayStatusFact.query(), ...(sub ? [certQuery] : [])],
        read: (facts: HostFacts) => readRelayStatus(facts, settings),
        probe: (ctx: ProbeContext) => probeStatus(ctx, settings),
      },
    };
  },
});

export default sendmailSmartHost;
