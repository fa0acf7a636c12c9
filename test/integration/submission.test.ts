// Authenticated submission (issue 32) on the sandbox LAN, on Debian 13 and the CentOS-like host (and
// Debian 12 in npm run test:matrix): the guest client, outside
// relayFrom, submits on port 587 as a roaming user would. Without AUTH it is refused; in the clear
// no AUTH is offered; after STARTTLS with a configured user it relays to the stand-in smart host
// (the Received line names the user); a wrong password gets 535. Port 25 offers no AUTH, even after
// STARTTLS. The office client still relays by
// IP on port 25. Removing a user and applying again makes its AUTH fail; a rollback brings it back.
// Then the host's own PAM users through saslauthd (users: 'pam'): a unix user made on the host
// relays, a wrong password gets 535, the sasldb users no longer count; a rollback undoes it.
// No password shows in any output, JSON, log or remote command line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCa } from '../../src/sandbox/ca.ts';
import { lanEhlo, lanSubmit, lanSubmitAuth, sandboxUp, waitForMessage, type SandboxState } from '../../src/sandbox/index.ts';
import { releasesUnderTest, remote, stopSandbox } from './helpers.ts';
import type { UpOptions } from '../../src/sandbox/index.ts';

const BIN = resolve(import.meta.dirname, '../../bin/mailprov.mjs');
// passwords a shell would take apart: any of them on a command line would be split, expanded or shown
const ALICE = `al'ice "pw" $HOME \`id\` ${Date.now()}`;
const BOB = `bob-pw; echo no ${process.pid}`;
// the host's own user (users: 'pam'), made by the test with chpasswd reading stdin
const CAROL = `carol's pw "$(id)" ${Date.now()}`;

/**
 * Each Debian release under test, and the CentOS-like host (a Debian-built root in RHEL's layout:
 * cyrus-sasl's packages, /etc/sysconfig/saslauthd), in npm test only: it is no Debian release.
 */
const CASES: { label: string; host: string; up: Pick<UpOptions, 'count' | 'centos' | 'releases'> }[] = [
  ...releasesUnderTest().map((r) => ({ label: `Debian ${r}`, host: 'relay1', up: { count: 1, releases: { relay1: r } } })),
  ...(process.env.MAILPROV_TEST_MATRIX === '1' ? [] : [{ label: 'the CentOS-like host', host: 'centos1', up: { count: 0, centos: 1 } }]),
];

describe.each(CASES)('$label', ({ host: name, up }) => {
  const fqdn = `${name}.sandbox.test`;
  let state: SandboxState;
  let work: string;
  let inv: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mailprov-it-submission-'));
    state = await sandboxUp({
      dir: mkdtempSync(join(tmpdir(), 'mailprov-it-sub-sb-')),
      ...up,
      lan: true,
    });
    writeFileSync(join(work, 'alice.pw'), ALICE, { mode: 0o600 });
    writeFileSync(join(work, 'bob.pw'), BOB, { mode: 0o600 });
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${fqdn}`,
        '-keyout',
        join(work, 'key.pem'),
        '-out',
        join(work, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    inv = inventory(['alice', 'bob']);
  }, 600_000);

  afterAll(async () => {
    await stopSandbox(state);
    // its password files and TLS key go with the test
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The certificate pushed from the controller: self-signed, so said. */
  const PUSHED = () =>
    `{ cert: ${JSON.stringify(join(work, 'cert.pem'))}, key: secret.file(${JSON.stringify(join(work, 'key.pem'))}), selfSigned: true }`;

  /** A user's inventory: the office relay of lan.test.ts, plus submission for `users` (or the host's PAM users), with `tls` (code). */
  function inventory(users: string[] | 'pam', tls = PUSHED()): string {
    const file = join(work, 'inv.ts');
    const host = state.hosts[0];
    writeFileSync(
      file,
      `import { defineInventory, secret } from 'mailprov';
       import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
       export default defineInventory({
         defaults: { privateKey: ${JSON.stringify(state.privateKey)}, knownHosts: ${JSON.stringify(state.knownHosts)} },
         hosts: { ${name}: { address: '127.0.0.1', port: ${host.port} } },
         playbooks: [{ use: sendmailSmartHost({
           smartHost: ${JSON.stringify(state.smartHost.name)}, smartHostPort: 587,
           auth: { user: ${JSON.stringify(state.smartHost.user)}, password: secret.file(${JSON.stringify(state.smartHost.passwordFile)}) },
           listen: ['0.0.0.0'], relayFrom: [${JSON.stringify(state.lan!.office)}],
           verify: { recipient: 'ops@example.com' },
           submission: {
             // the stand-in smart host's forwarder holds 127.0.0.2:587 inside the host: not every address
             listen: [${JSON.stringify(host.lanAddress)}, '127.0.0.1'],
             users: ${users === 'pam' ? "'pam'" : `{ ${users.map((u) => `${u}: secret.file(${JSON.stringify(join(work, `${u}.pw`))})`).join(', ')} }`},
             tls: ${tls},
           },
         }) }],
       });\n`,
    );
    return file;
  }

  const outputs: string[] = [];
  function mailprov(...args: string[]) {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      cwd: work,
      env: { ...process.env, MAILPROV_SANDBOX_DIR: state.dir, NO_COLOR: '1' },
      timeout: 300_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    outputs.push(out);
    return { code: r.status, out };
  }

  const relay = () => state.hosts[0].lanAddress!;
  const submitAs = (user: string, pass: string, subject: string) =>
    lanSubmitAuth(
      state.lan,
      'guest',
      relay(),
      { from: `${user}@guest.lan.sandbox.test`, to: 'ops@example.com', subject },
      { port: 587, auth: { user, pass } },
    );

  describe('authenticated submission on port 587', () => {
    it('apply sets up the MSA; the plan names the users and no remote command carries a password', { timeout: 600_000 }, async () => {
      const plan = mailprov('plan', inv, '--json');
      expect(plan.code, plan.out).toBe(2); // changes pending
      type Planned = { resource: string; summary: string; commands: { label: string; command: string; sendsContent: boolean }[] };
      const planned = JSON.parse(plan.out) as { hosts: { changes: Planned[] }[] };
      const users = planned.hosts[0].changes.find((c) => c.resource === 'submission-users:sendmail')!;
      expect(users.summary).toBe('submission users: add alice, bob');
      // each password travels on its command's stdin: the command line is saslpasswd2's, with the user only
      expect(users.commands.find((c) => c.label === 'add submission user alice')).toEqual({
        label: 'add submission user alice',
        command: `umask 027 && saslpasswd2 -p -c -f '/etc/mail/sasldb2' -u '${fqdn}' 'alice'`,
        sendsContent: true,
      });
      const applied = mailprov('apply', inv);
      expect(applied.code, applied.out).toBe(0);
      // a second plan finds the users as they should be: compared by their recorded hashes
      // the sasldb readable by root and smmsp only; the record of hashes and the key by root only
      const modes = await remote(
        state,
        0,
        `stat -c '%n %U:%G %a' /etc/mail/sasldb2 /etc/mail/sasldb2.mailprov /etc/mail/submission-key.pem`,
      );
      expect(modes.stdout.trim().split('\n')).toEqual([
        '/etc/mail/sasldb2 root:smmsp 640',
        '/etc/mail/sasldb2.mailprov root:root 600',
        '/etc/mail/submission-key.pem root:root 600',
      ]);
      const again = mailprov('plan', inv);
      expect(again.out).not.toMatch(/submission users:/);
      expect(again.code, again.out).toBe(0);
    });

    it('in the clear, port 587 offers STARTTLS but no AUTH', async () => {
      const ehlo = await lanEhlo(state.lan, 'guest', relay(), 587);
      expect(ehlo.outcome).toBe('open');
      expect(ehlo.detail).toMatch(/^250-STARTTLS/m);
      expect(ehlo.detail).not.toMatch(/AUTH/);
    });

    it('the guest without AUTH is refused; with AUTH after STARTTLS it relays, named in the Received line; a wrong password gets 535', async () => {
      const plain = await lanSubmit(state.lan, 'guest', relay(), {
        from: 'visitor@guest.lan.sandbox.test',
        to: 'ops@example.com',
        subject: 'no auth',
      });
      expect(plain.accepted).toBe(false);
      const noAuth = await lanSubmitAuth(
        state.lan,
        'guest',
        relay(),
        { from: 'visitor@guest.lan.sandbox.test', to: 'ops@example.com', subject: 'no auth 587' },
        { port: 587 },
      );
      expect(noAuth.accepted).toBe(false);
      expect(noAuth.response).toMatch(/^530 5\.7\.0 Authentication required/);

      const subject = `alice roaming ${Date.now()}`;
      const sent = await submitAs('alice', ALICE, subject);
      expect(sent, JSON.stringify(sent)).toMatchObject({ accepted: true });
      const m = await waitForMessage(state.smartHost.storeDir, (x) => x.subject === subject, 30_000);
      expect(m.rcptTo).toEqual(['ops@example.com']);
      expect(m.raw).toMatch(
        new RegExp(`\\r?\\n\\t\\(authenticated as alice bits=0\\)\\r?\\n\\tby ${name}\\.sandbox\\.test .* with ESMTPSA `),
      );

      const wrong = await submitAs('alice', `${ALICE}x`, 'wrong');
      expect(wrong.accepted).toBe(false);
      expect(wrong.response).toMatch(/^535 5\.7\.0 authentication failed/);
    });

    it('the office client still relays by IP on port 25', async () => {
      const subject = `office by IP ${Date.now()}`;
      const sent = await lanSubmit(state.lan, 'office', relay(), {
        from: 'printer@office.lan.sandbox.test',
        to: 'ops@example.com',
        subject,
      });
      expect(sent).toMatchObject({ accepted: true });
      await waitForMessage(state.smartHost.storeDir, (x) => x.subject === subject, 30_000);
    });

    it('a user removed from the inventory can no longer authenticate; rollback brings it back', { timeout: 600_000 }, async () => {
      inventory(['alice']);
      const plan = mailprov('plan', inv);
      expect(plan.out).toMatch(/submission users: remove bob/);
      expect(plan.code).toBe(2);
      const applied = mailprov('apply', inv);
      expect(applied.code, applied.out).toBe(0);
      expect((await submitAs('bob', BOB, 'bob gone')).response).toMatch(/^535 /);
      expect(await submitAs('alice', ALICE, `alice stays ${Date.now()}`)).toMatchObject({ accepted: true });

      const back = mailprov('rollback', inv, '--host', name);
      expect(back.code, back.out).toBe(0);
      expect(await submitAs('bob', BOB, `bob back ${Date.now()}`)).toMatchObject({ accepted: true });
    });

    it('port 25 offers no AUTH, even after STARTTLS; port 587 offers it after STARTTLS', async () => {
      const office = await lanEhlo(state.lan, 'office', relay(), 25, 5000, { starttls: true });
      expect(office.outcome).toBe('open');
      // the EHLO reply after STARTTLS: STARTTLS no longer offered
      expect(office.detail).toMatch(/^250[- ]/m);
      expect(office.detail).not.toMatch(/STARTTLS/);
      expect(office.detail).not.toMatch(/AUTH/);
      const guest = await lanEhlo(state.lan, 'guest', relay(), 587, 5000, { starttls: true });
      expect(guest.detail).toMatch(/^250-AUTH PLAIN LOGIN$/m);
    });
  });

  describe("the host's PAM users through saslauthd (users: 'pam')", () => {
    it('apply installs and starts saslauthd with PAM; the plan says so; a second plan finds nothing to do', {
      timeout: 600_000,
    }, async () => {
      // a unix user of the host's own, its password set over stdin
      const made = await remote(state, 0, 'useradd -M -s /usr/sbin/nologin carol && chpasswd', `carol:${CAROL}\n`);
      expect(made.code, made.stderr).toBe(0);
      inventory('pam');
      const plan = mailprov('plan', inv, '--json');
      expect(plan.code, plan.out).toBe(2);
      type Planned = { resource: string; summary: string; diff?: { after?: string } };
      const changes = (JSON.parse(plan.out) as { hosts: { changes: Planned[] }[] }).hosts[0].changes;
      const settings = name === 'centos1' ? '/etc/sysconfig/saslauthd' : '/etc/default/saslauthd';
      const mux = name === 'centos1' ? '/run/saslauthd/mux' : '/var/run/saslauthd/mux';
      expect(changes.map((c) => c.resource)).toEqual(
        expect.arrayContaining([`file:${settings}`, 'file:/etc/sasl2/Sendmail.conf', 'service:saslauthd']),
      );
      expect(changes.find((c) => c.resource === 'file:/etc/sasl2/Sendmail.conf')!.diff!.after).toContain(
        `pwcheck_method: saslauthd\nsaslauthd_path: ${mux}\n`,
      );
      const applied = mailprov('apply', inv);
      expect(applied.code, applied.out).toBe(0);
      expect((await remote(state, 0, `service saslauthd status >/dev/null && test -S ${mux} && echo up`)).stdout).toBe('up\n');
      const again = mailprov('plan', inv);
      expect(again.code, again.out).toBe(0);
    });

    it('the unix user relays after STARTTLS, named in the Received line; a wrong password gets 535; a sasldb user no longer counts', async () => {
      const subject = `carol by PAM ${Date.now()}`;
      expect(await submitAs('carol', CAROL, subject)).toMatchObject({ accepted: true });
      const m = await waitForMessage(state.smartHost.storeDir, (x) => x.subject === subject, 30_000);
      expect(m.raw).toMatch(/\r?\n\t\(authenticated as carol bits=0\)\r?\n/);
      expect((await submitAs('carol', `${CAROL}x`, 'carol wrong')).response).toMatch(/^535 5\.7\.0 authentication failed/);
      expect((await submitAs('alice', ALICE, 'alice by PAM')).response).toMatch(/^535 /);
    });

    it('rollback returns to the sasldb users: alice relays again, the unix user no longer', { timeout: 600_000 }, async () => {
      const back = mailprov('rollback', inv, '--host', name);
      expect(back.code, back.out).toBe(0);
      expect(await submitAs('alice', ALICE, `alice after PAM ${Date.now()}`)).toMatchObject({ accepted: true });
      expect((await submitAs('carol', CAROL, 'carol gone')).response).toMatch(/^535 /);
    });
  });

  describe('secrets', () => {
    it('no password shows in any output, JSON or run log', () => {
      const logs = readdirSync(work, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.log'))
        .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
      const all = [...outputs, ...logs].join('\n');
      expect(outputs.length).toBeGreaterThanOrEqual(5);
      for (const pw of [ALICE, BOB, CAROL]) {
        expect(all).not.toContain(pw);
        expect(all).not.toContain(JSON.stringify(pw).slice(1, -1));
        expect(all).not.toContain(Buffer.from(pw).toString('base64'));
      }
    });
  });
  // the certificate (issue 32, item 2): issued per host by the operator's CA, the key made on the
  // host; verified by a client against the CA; left alone by a second apply; expiry in plan and
  // status; self-signed only when a setting says so, loudly; rollback returns the previous pair
  describe('the submission certificate', () => {
    const USERS = ['alice'];
    let ca: { caCert: string; caKey: string };
    const CA_TLS = () =>
      `{ ca: { cert: ${JSON.stringify(ca.caCert)}, key: secret.file(${JSON.stringify(ca.caKey)}) }, names: ['mail.sandbox.test', ${JSON.stringify(relay())}] }`;

    /** A TLS client on the relay host that trusts only the test CA: STARTTLS on 587, the chain and the name checked. */
    async function verifyAgainstCa(): Promise<{ code: number; out: string }> {
      const r = await remote(
        state,
        0,
        `cat > /tmp/mailprov-it-ca.pem && openssl s_client -connect ${relay()}:587 -starttls smtp -CAfile /tmp/mailprov-it-ca.pem -verify_return_error -verify_hostname ${name}.sandbox.test -brief </dev/null 2>&1`,
        readFileSync(ca.caCert, 'utf8'),
      );
      return { code: r.code ?? -1, out: r.stdout };
    }
    const served = async () =>
      (await remote(state, 0, 'openssl x509 -in /etc/mail/submission-cert.pem -noout -issuer -ext subjectAltName')).stdout;

    beforeAll(async () => {
      ca = await ensureCa(join(work, 'ca'), '/CN=Mailprov Test Office CA');
    });

    it('a pushed self-signed certificate without selfSigned: true is refused before anything changes', () => {
      inventory(USERS, PUSHED().replace(', selfSigned: true', ''));
      const plan = mailprov('plan', inv);
      expect(plan.code, plan.out).toBe(1);
      expect(plan.out).toMatch(
        new RegExp(String.raw`is self-signed \(CN ?= ?${name}\.sandbox\.test\): set submission\.tls\.selfSigned: true`),
      );
    });

    it('issued by the CA: the plan says so, a client verifies it against the CA, the key stays on the host, a second apply changes nothing', {
      timeout: 600_000,
    }, async () => {
      inventory(USERS, CA_TLS());
      const plan = mailprov('plan', inv);
      expect(plan.code, plan.out).toBe(2);
      expect(plan.out).toContain(
        `issue the submission certificate for ${name}.sandbox.test, mail.sandbox.test, ${relay()} from the CA CN=Mailprov Test Office CA (365 days)`,
      );
      // the pushed one, as it is on the host now: its expiry
      expect(plan.out).toMatch(/submission certificate on the host before any change: .*self-signed, expires in [01] day\(s\)/);
      expect((await verifyAgainstCa()).code).not.toBe(0);

      const applied = mailprov('apply', inv);
      expect(applied.code, applied.out).toBe(0);
      const v = await verifyAgainstCa();
      expect(v.out).toMatch(/Verification: OK/);
      expect(v.out).toMatch(new RegExp(String.raw`Verified peername: ${name}\.sandbox\.test`));
      expect(v.code, v.out).toBe(0);
      expect(await served()).toMatch(
        new RegExp(`DNS:${name}\\.sandbox\\.test, DNS:mail\\.sandbox\\.test, IP Address:${relay().replaceAll('.', '\\.')}`),
      );
      const modes = await remote(
        state,
        0,
        `stat -c '%n %U:%G %a' /etc/mail/submission-cert.pem /etc/mail/submission-key.pem; ls -a /etc/mail | grep -c mailprov-new`,
      );
      expect(modes.stdout.trim().split('\n')).toEqual([
        '/etc/mail/submission-cert.pem root:root 644',
        '/etc/mail/submission-key.pem root:root 600',
        '0',
      ]);
      // AUTH still works over the new certificate
      expect(await submitAs('alice', ALICE, `alice over the CA's certificate ${Date.now()}`)).toMatchObject({ accepted: true });

      const again = mailprov('plan', inv);
      expect(again.code, again.out).toBe(0);
      expect(again.out).toMatch(
        new RegExp(
          String.raw`submission certificate on the host before any change: ${name}\.sandbox\.test, mail\.sandbox\.test, .*issued by CN=Mailprov Test Office CA, expires in 36[45] day\(s\)`,
        ),
      );
      const second = mailprov('apply', inv);
      expect(second.code, second.out).toBe(0);
      expect(second.out).not.toMatch(/issue the submission certificate/);
    });

    it('mailprov status shows when it expires: the table, --json, --prometheus and --nagios', () => {
      const text = mailprov('status', inv);
      expect(text.code, text.out).toBe(0);
      expect(text.out).toMatch(
        new RegExp(
          String.raw`certificate: ${name}\.sandbox\.test, mail\.sandbox\.test, .*issued by CN=Mailprov Test Office CA, expires in 36[45] days`,
        ),
      );
      const json = mailprov('status', inv, '--json');
      const cert = JSON.parse(json.out).hosts[0].service.certificate;
      expect(cert).toMatchObject({
        issuer: 'CN=Mailprov Test Office CA',
        selfSigned: false,
        names: [fqdn, 'mail.sandbox.test', relay()],
      });
      expect(cert.expiresAt - Date.now() / 1000).toBeGreaterThan(364 * 86400);
      const prom = join(work, 'mailprov.prom');
      expect(mailprov('status', inv, '--prometheus', prom).code).toBe(0);
      expect(readFileSync(prom, 'utf8')).toContain(`mailprov_submission_cert_expiry_seconds{host="${name}"} ${cert.expiresAt}`);
      const ok = mailprov('status', inv, '--nagios');
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toMatch(new RegExp(`${name}_cert_days=36[45];30:;7:;;`));
      // a year of warning: WARNING, and the days left said
      const warn = mailprov('status', inv, '--nagios', '--warn-cert', '400d');
      expect(warn.code, warn.out).toBe(1);
      expect(warn.out).toMatch(
        new RegExp(String.raw`^MAILPROV WARNING - ${name} WARNING: certificate expires in 36[45] day\(s\) < 400 days`),
      );
    });

    it('self-signed per host only with selfSigned: true, warned in plan and apply; rollback returns the CA certificate and its key', {
      timeout: 600_000,
    }, async () => {
      const keyBefore = (await remote(state, 0, 'sha256sum /etc/mail/submission-key.pem')).stdout;
      inventory(USERS, '{ selfSigned: true }');
      const plan = mailprov('plan', inv);
      expect(plan.code, plan.out).toBe(2);
      expect(plan.out).toMatch(/SELF-SIGNED: submission\.tls\.selfSigned: .*each one must pin it/);
      expect(plan.out).toContain(`make a SELF-SIGNED submission certificate for ${fqdn} (365 days; clients must pin it)`);
      const applied = mailprov('apply', inv);
      expect(applied.code, applied.out).toBe(0);
      expect(applied.out).toMatch(/SELF-SIGNED: submission\.tls\.selfSigned/);
      expect(await served()).toMatch(new RegExp(String.raw`issuer=CN ?= ?${name}\.sandbox\.test`));
      expect((await verifyAgainstCa()).code).not.toBe(0);
      expect(mailprov('plan', inv).code).toBe(0);

      const back = mailprov('rollback', inv, '--host', name);
      expect(back.code, back.out).toBe(0);
      expect((await remote(state, 0, 'sha256sum /etc/mail/submission-key.pem')).stdout).toBe(keyBefore);
      const v = await verifyAgainstCa();
      expect(v.code, v.out).toBe(0);
    });

    it("the CA's key shows in no output, JSON or run log, and was never on the host", async () => {
      const logs = readdirSync(work, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.log'))
        .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
      const all = [...outputs, ...logs].join('\n');
      const caKey = readFileSync(ca.caKey, 'utf8');
      const body = caKey.split('\n').filter((l) => l && !l.startsWith('-----'));
      expect(body.length).toBeGreaterThan(0);
      for (const line of body) expect(all).not.toContain(line);
      expect(existsSync(ca.caKey)).toBe(true);
      const onHost = await remote(state, 0, `grep -rlF ${JSON.stringify(body[0])} /etc /var/lib/mailprov /tmp 2>/dev/null; true`);
      expect(onHost.stdout.trim()).toBe('');
    });
  });
});
