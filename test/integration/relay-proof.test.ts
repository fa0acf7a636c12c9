// The relay proves itself, on a Debian and a CentOS-like host with the real sendmail, against the
// stand-in smart host switched into each failure mode: sendmail itself refuses to relay (and to
// send AUTH) without verified TLS; the probe (after apply, and in `plan --probe`) names the cause;
// a wrong password fails the apply and rolls it back without any test message; deferred mail is
// reported as a finding and flushed once the relay is mended.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import type { SendmailSettingsInput } from '../../playbooks/sendmail-smarthost/settings.ts';
import { type EngineEvent, type HostResult, runHosts } from '../../src/engine/index.ts';
import { ConsoleReporter, resultsToJson } from '../../src/report/index.ts';
import {
  readMessages,
  readSmartHostEvents,
  relaySettings,
  sandboxUp,
  setSmartHostMode,
  SMART_HOST_APP_PASSWORD_USER,
  type SandboxState,
} from '../../src/sandbox/index.ts';
import { base64Runs, saslForms, secret } from '../../src/secrets/index.ts';
import { apply, byHost, remote, sandboxInventory, stopSandbox, writeInventory } from './helpers.ts';

let state: SandboxState;
const BIN = join(import.meta.dirname, '../../bin/mailprov.mjs');

beforeAll(async () => {
  state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-proof-')), count: 2, centos: 1, releases: { relay2: 12 } });
});

afterAll(async () => {
  if (state) await setSmartHostMode(state, { mode: 'normal' });
  await stopSandbox(state);
});

const HOSTS = [0, 1, 2]; // relay1 (Debian 13), relay2 (Debian 12), centos1 (CentOS-like)
// no test message: what is proven here is proven without sending mail
const settings = (over: Partial<SendmailSettingsInput> = {}) => relaySettings(state, { verify: undefined, ...over });
const inventory = (s: SendmailSettingsInput) => sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(s) }]);
const probe = (s: SendmailSettingsInput) => runHosts(inventory(s).hosts, { dryRun: true, probe: true, forks: 5, emit: () => {} });
const submit = (i: number, subject: string) =>
  remote(state, i, `/usr/sbin/sendmail -Am -odi -oi ops@example.com`, `From: root\nTo: ops@example.com\nSubject: ${subject}\n\nhello\n`);
const queued = async (i: number) => (await remote(state, i, 'ls /var/spool/mqueue | grep -c "^qf" || true')).stdout.trim();

/** How a password could show: as it is, JSON-escaped, in base64 at any alignment, and as SMTP AUTH sends it. */
const passwordForms = (user: string, password: string) => [
  password,
  JSON.stringify(password).slice(1, -1),
  ...base64Runs(password),
  ...saslForms(user, password),
];

/** Where `form` shows in `text`, with what surrounds it ('' when it does not). */
const shownIn = (text: string, form: string) => {
  const at = text.indexOf(form);
  return at < 0 ? '' : text.slice(Math.max(0, at - 150), at + form.length + 50);
};

/** Every file of a run's per-host logs, concatenated. */
function runLogs(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}

/**
 * What a change to host i would show in: every file under /etc and the journal (checksums), the
 * firewall rules, the mail queue, and the running sendmail's pid file (a restart changes it).
 */
async function hostState(i: number): Promise<string> {
  const r = await remote(
    state,
    i,
    [
      'set -e',
      'find /etc /var/lib/mailprov -xdev -type f -print0 | sort -z | xargs -0 md5sum',
      'iptables -S',
      'ip6tables -S',
      'ls -A /var/spool/mqueue',
      'cat /run/sendmail/mta/sendmail.pid 2>/dev/null || cat /run/sendmail.pid',
    ].join('\n'),
  );
  expect(r.code, r.stderr).toBe(0);
  // the snapshot holds what it must (a command that printed nothing would compare equal to itself)
  expect(r.stdout).toMatch(/ \/etc\/mail\/sendmail\.mc\n/);
  expect(r.stdout).toMatch(/ \/var\/lib\/mailprov\/generations\/\d+\/meta\.json\n/);
  expect(r.stdout).toMatch(/^-P INPUT /m);
  return r.stdout;
}

// The relay as the first test applies it. Every test that needs an applied relay asks for it here, so
// each runs alone too (vitest -t); the apply runs once per file, whichever test comes first.
let applying: Promise<HostResult[]> | undefined;
const relayApplied = () => {
  // listen and openSmtpPort left to their defaults: relayFrom names a network, so a LAN relay
  applying ??= setSmartHostMode(state, { mode: 'normal' }).then(() => apply(inventory(settings({ listen: undefined }))));
  return applying;
};

describe('the relay proves itself', () => {
  it('applies and proves TLS and the credentials from each host, without a test message', async () => {
    const results = byHost(await relayApplied());
    for (const h of ['relay1', 'relay2', 'centos1']) {
      expect(results[h].error).toBeUndefined();
      expect(results[h].status).toBe('changed');
      const info = results[h].findings.filter((f) => f.level === 'info').map((f) => f.message);
      expect(info.join('\n')).toMatch(/smart host smtp\.sandbox\.test:587 reached from this host over TLS .* AUTH PLAIN accepted/);
    }
    for (const i of HOSTS)
      expect((await remote(state, i, 'cat /etc/mail/access')).stdout).toMatch(
        /^TLS_Srv:smtp\.sandbox\.test\s+VERIFY:128\+CN:smtp\.sandbox\.test$/m,
      );
    expect(await readMessages(state.smartHost.storeDir)).toEqual([]);
  });

  it('sendmail itself relays only over verified TLS, and never sends AUTH otherwise', async () => {
    await relayApplied();
    for (const mode of ['untrusted-cert', 'wrong-name-cert', 'no-starttls'] as const) {
      await setSmartHostMode(state, { mode });
      const since = (await readSmartHostEvents(state)).length;
      for (const i of HOSTS) {
        const r = await submit(i, `under ${mode}`);
        expect(r.code, r.stderr).toBe(0);
      }
      // delivery is attempted at once (-odi): deferred by tls_server, before any AUTH
      const events = (await readSmartHostEvents(state)).slice(since);
      expect(events.filter((e) => e.kind === 'connection').length, mode).toBeGreaterThanOrEqual(2);
      expect(
        events.filter((e) => e.kind === 'auth'),
        mode,
      ).toEqual([]);
      expect(
        events.filter((e) => e.kind === 'message'),
        mode,
      ).toEqual([]);
      for (const i of HOSTS) expect(Number(await queued(i)), mode).toBeGreaterThan(0);
    }
    expect(await readMessages(state.smartHost.storeDir)).toEqual([]);
    await setSmartHostMode(state, { mode: 'normal' });
  });

  it('plan --probe names the cause and the remedy, per host, changing nothing', async () => {
    await relayApplied();
    const cases: [string, () => Promise<void>, Partial<SendmailSettingsInput>, RegExp, RegExp][] = [
      [
        'untrusted',
        () => setSmartHostMode(state, { mode: 'untrusted-cert' }),
        {},
        /not trusted by this host's CA bundle/,
        /update the host's CA certificates \(ca-certificates\), or set trustedCa to a bundle with the issuing CA/,
      ],
      [
        'wrong name',
        () => setSmartHostMode(state, { mode: 'wrong-name-cert' }),
        {},
        /is not for the name smtp\.sandbox\.test/,
        /set smartHost to the name the provider's certificate is for/,
      ],
      [
        'no STARTTLS',
        () => setSmartHostMode(state, { mode: 'no-starttls' }),
        {},
        /does not offer STARTTLS/,
        /check smartHost and smartHostPort \(submission on 587 offers STARTTLS\)/,
      ],
      [
        '535',
        () => setSmartHostMode(state, { mode: 'normal' }),
        { auth: { user: state.smartHost.user, password: secret.value('wrong-password') } },
        /refused the credentials of relay@sandbox\.test \(535 5\.7\.8/,
        /check auth\.user and the password secret/,
      ],
      [
        '534',
        () => setSmartHostMode(state, { mode: 'normal' }),
        { auth: { user: SMART_HOST_APP_PASSWORD_USER, password: secret.value('account-password') } },
        /requires an application-specific password .*534.5\.7\.9/,
        /create an app password for this account and use it as the password secret/,
      ],
      [
        'refused',
        async () => {},
        { smartHostPort: 588 },
        /nothing accepts connections on smtp\.sandbox\.test:588/,
        /check smartHost and smartHostPort \(Gmail and most providers: 587\)/,
      ],
      [
        'dns',
        async () => {},
        { smartHost: 'nosuch.sandbox.test' },
        /the name nosuch\.sandbox\.test does not resolve on this host/,
        /check the spelling of smartHost and the host's DNS/,
      ],
    ];
    // every form of every password these probes hold: the two wrong ones and the sandbox's real one
    const real = readFileSync(state.smartHost.passwordFile, 'utf8').trim();
    const forms = [
      ...passwordForms(state.smartHost.user, 'wrong-password'),
      ...passwordForms(SMART_HOST_APP_PASSWORD_USER, 'account-password'),
      ...passwordForms(state.smartHost.user, real),
    ];
    const before = await Promise.all(HOSTS.map((i) => hostState(i)));
    const runDir = mkdtempSync(join(tmpdir(), 'mailprov-probe-logs-'));
    for (const [name, arrange, over, cause, remedy] of cases) {
      await arrange();
      // rendered as the CLI renders a run: the live lines, the plan, findings, errors, summary; and --json
      let printed = '';
      const out = new Writable({
        write(chunk, _encoding, done) {
          printed += chunk.toString();
          done();
        },
      }) as unknown as NodeJS.WriteStream;
      const reporter = new ConsoleReporter({ out, live: false });
      const events: EngineEvent[] = [];
      const results = await runHosts(inventory(settings(over)).hosts, {
        dryRun: true,
        probe: true,
        forks: 5,
        runDir,
        emit: (e) => {
          events.push(e);
          reporter.onEvent(e);
        },
      });
      reporter.printPlan(results);
      reporter.printFindings(results);
      reporter.printErrors(results);
      reporter.printSummary(results, runDir, true);
      expect(results.map((r) => r.host).sort(), name).toEqual(['centos1', 'relay1', 'relay2']);
      for (const r of results) {
        expect(r.status, `${name} on ${r.host}`).toBe('failed');
        // one line: the cause, then what to do about it
        expect(r.error, `${name} on ${r.host}`).toMatch(cause);
        expect(r.error, `${name} on ${r.host}`).toMatch(new RegExp(`${cause.source}.*; .*${remedy.source}`));
      }
      // never a password, in any form, in any channel a person or a program reads. (The engine's own
      // result objects hold the file writes' content, authinfo included, for the apply: never shown.)
      const channels = {
        'errors and findings': JSON.stringify(results.map((r) => [r.error, r.findings])),
        'phase events': JSON.stringify(events.filter((e) => e.kind !== 'host-done')),
        'console output': printed,
        '--json output': resultsToJson('plan', results),
        'run logs': runLogs(runDir),
      };
      expect(printed, name).toMatch(/relay1: failed/);
      for (const [channel, text] of Object.entries(channels))
        for (const f of forms) expect(shownIn(text, f), `${name}: password form ${JSON.stringify(f)} in the ${channel}`).toBe('');
    }
    await setSmartHostMode(state, { mode: 'normal' });
    // nor left on the hosts, in a log, the journal, the queue or a temporary file: the two passwords
    // only probed with (the real one is in authinfo, where it belongs)
    const probedOnly = [
      ...passwordForms(state.smartHost.user, 'wrong-password'),
      ...passwordForms(SMART_HOST_APP_PASSWORD_USER, 'account-password'),
    ];
    for (const i of HOSTS) {
      const found = await remote(
        state,
        i,
        'grep -rlF -f - /etc /var/log /var/lib/mailprov /var/spool /tmp /root',
        `${probedOnly.join('\n')}\n`,
      );
      expect([found.code, found.stdout, found.stderr], state.hosts[i].name).toEqual([1, '', '']);
    }
    // changing nothing: every file under /etc, the journal, the firewall, the queue, the running sendmail
    const after = await Promise.all(HOSTS.map((i) => hostState(i)));
    expect(after).toEqual(before);
    expect(await readMessages(state.smartHost.storeDir)).toEqual([]);
  });

  it('plan --probe reports a network that drops outbound packets as a timeout', async () => {
    await relayApplied();
    // the hosts' own firewall drops what goes to port 2525 of the smart host: no answer, ever
    for (const i of HOSTS) await remote(state, i, 'iptables -I OUTPUT -p tcp -d 127.0.0.2 --dport 2525 -j DROP');
    try {
      const results = await probe(settings({ smartHostPort: 2525 }));
      expect(results.map((r) => r.host).sort()).toEqual(['centos1', 'relay1', 'relay2']);
      for (const r of results) {
        expect(r.error).toMatch(/no answer from smtp\.sandbox\.test:2525 .*the network drops outbound port 2525/);
      }
    } finally {
      for (const i of HOSTS) await remote(state, i, 'iptables -D OUTPUT -p tcp -d 127.0.0.2 --dport 2525 -j DROP');
    }
  });

  it('`mailprov plan --probe` exits 1 with the cause on a probe failure, 2 when the probe passes and changes wait', () => {
    const work = mkdtempSync(join(tmpdir(), 'mailprov-probe-cli-'));
    const file = join(work, 'inv.ts');
    const write = (password: string) =>
      writeInventory(file, state, { password: `secret.value(${JSON.stringify(password)})`, settings: "relayFrom: ['192.168', '10.1']" });
    const plan = () => spawnSync(process.execPath, [BIN, 'plan', '--probe', file], { encoding: 'utf8', cwd: work });
    write('not-the-password');
    const bad = plan();
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/relay1.*refused the credentials.*check auth\.user and the password secret/s);
    write(readFileSync(state.smartHost.passwordFile, 'utf8').trim());
    const good = plan();
    expect(good.status, good.stdout + good.stderr).toBe(2);
    expect(good.stdout + good.stderr).toMatch(/AUTH PLAIN accepted/);
    // and the relay config on disk is not open; the probe says it tested the file, not the daemon's memory
    expect(good.stdout + good.stderr).toMatch(
      /\/etc\/mail\/sendmail\.cf on disk \(as sendmail -bt reads it, not necessarily what the running daemon loaded\): not an open relay: sendmail refuses clients outside relayFrom/,
    );
  });

  it('an apply with a wrong password fails and rolls back, without verify.recipient', async () => {
    await relayApplied();
    const good = await Promise.all(HOSTS.map((i) => remote(state, i, 'cat /etc/mail/authinfo')));
    const results = await apply(inventory(settings({ auth: { user: state.smartHost.user, password: secret.value('rotated-wrong') } })));
    expect(results.map((r) => r.host).sort()).toEqual(['centos1', 'relay1', 'relay2']);
    for (const r of results) {
      expect(r.status, r.host).toBe('rolled-back');
      expect(r.error).toMatch(/refused the credentials/);
    }
    const now = await Promise.all(HOSTS.map((i) => remote(state, i, 'cat /etc/mail/authinfo')));
    expect(now.map((r) => r.stdout)).toEqual(good.map((r) => r.stdout));
  });

  it('reports waiting mail, and flushes it once the relay is mended (a rotated password)', async () => {
    await relayApplied();
    // mail deferred twice over, made here: refused by the relay's TLS check, then by the provider's "try later"
    await setSmartHostMode(state, { mode: 'untrusted-cert' });
    for (const i of HOSTS) expect((await submit(i, 'while the certificate was untrusted')).code).toBe(0);
    await setSmartHostMode(state, { mode: 'tempfail' });
    for (const i of HOSTS) expect((await submit(i, 'while the provider refused')).code).toBe(0);
    const waiting = Number(await queued(0));
    expect(waiting).toBeGreaterThan(1);
    const plan = byHost(await runHosts(inventory(settings()).hosts, { dryRun: true, forks: 5, emit: () => {} }));
    const finding = plan.relay1.findings.find((f) => f.code === 'mail-queued');
    expect(finding?.message).toMatch(new RegExp(`^${waiting} messages wait in the mail queue, the oldest for \\d+ (s|min)`));
    expect(finding?.message, finding?.message).toMatch(/refuses service for now/);

    // the provider rotates the password; the inventory gets the new one: the apply proves it, then flushes
    const rotated = 'rotated-password-2';
    await setSmartHostMode(state, { mode: 'normal', password: rotated });
    const results = byHost(await apply(inventory(settings({ auth: { user: state.smartHost.user, password: secret.value(rotated) } }))));
    for (const h of ['relay1', 'relay2', 'centos1']) {
      expect(results[h].error).toBeUndefined();
      const flushed = results[h].findings.find((f) => /mail queue flushed/.test(f.message));
      expect(flushed?.message, h).toMatch(/(\d+) of \1 waiting message\(s\) left$/);
    }
    for (const i of HOSTS) expect(await queued(i)).toBe('0');
    const subjects = (await readMessages(state.smartHost.storeDir)).map((m) => m.subject);
    for (const s of ['while the certificate was untrusted', 'while the provider refused'])
      expect(subjects.filter((x) => x === s)).toHaveLength(HOSTS.length);
    const authed = (await readMessages(state.smartHost.storeDir)).every((m) => m.tls && m.authUser === state.smartHost.user);
    expect(authed).toBe(true);
  });
});
