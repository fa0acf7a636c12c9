// Failures are failures (issue 33), on real sandbox hosts, Debian and the CentOS-like one:
// - a rollback restores what ran: a host set up by hand whose sendmail.mc does not build (m4: "end
//   of file in argument list") while sendmail runs on the cf it has is applied, then `rollback --to
//   0` returns exactly its files in /etc/mail (cf and maps, by digest), sendmail running on them;
// - a failing command fails its step: a password rotation onto an authinfo.db that is a directory
//   fails the host, names makemap and its error, and is rolled back;
// - the proof reads what sendmail reads: a map emptied by hand after apply sends mail without AUTH,
//   which the stand-in smart host refuses with 530 5.7.0, as Gmail does (a permanent reply: sendmail
//   returns the message to its sender, it does not queue it); plan's drift check names the map, and
//   the next apply rebuilds it and proves it; a makemap that exits 0 having written nothing is caught
//   by the proof (sendmail's own lookup, by digest) and the host rolled back.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { CF_AGE_COMMAND, parseCfAge } from '../../playbooks/sendmail-smarthost/host.ts';
import { runHosts } from '../../src/engine/index.ts';
import { resultsToJson } from '../../src/report/json.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { readSmartHostEvents, relaySettings, sandboxUp, waitForMessage, type SandboxState } from '../../src/sandbox/index.ts';
import { secret } from '../../src/secrets/index.ts';
import type { SendmailSettingsInput } from '../../playbooks/sendmail-smarthost/index.ts';
import { remote as remoteExec, sandboxInventory, stopSandbox } from './helpers.ts';

let state: SandboxState;
let password: string;
beforeAll(async () => {
  state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-failures-')), count: 1, centos: 1 });
  password = readFileSync(state.smartHost.passwordFile, 'utf8').trim();
});
afterAll(async () => {
  await stopSandbox(state);
});

const HOSTS = [
  {
    name: 'relay1',
    index: 0,
    install: 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q sendmail sendmail-cf libsasl2-modules iptables-persistent',
    start: '/etc/init.d/sendmail status >/dev/null 2>&1 || /etc/init.d/sendmail start',
  },
  {
    name: 'centos1',
    index: 1,
    install: 'dnf install -y -q sendmail sendmail-cf cyrus-sasl-plain',
    start: 'service sendmail status >/dev/null 2>&1 || service sendmail start',
  },
];

/** The classic pitfall (SENDMAIL.md): `dnl` eats the closing parenthesis, m4 reads to the end of the file. */
const BROKEN_LINE = "define(`confPRIVACY_FLAGS',dnl`goaway')dnl\n";

describe.each(HOSTS)('$name', (h) => {
  const remote = (cmd: string, stdin?: string) => remoteExec(state, h.index, cmd, stdin);
  const out = async (cmd: string, stdin?: string) => {
    const r = await remote(cmd, stdin);
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const inventory = (over: Partial<SendmailSettingsInput> = {}) =>
    sandboxInventory(state, [{ on: h.name, use: sendmailSmartHost(relaySettings(state, over)) }], {}, [h.name]);
  const run = async (over: Partial<SendmailSettingsInput> = {}, dryRun = false) =>
    (await runHosts(inventory(over).hosts, { dryRun, forks: 1, emit: () => {}, inventoryFile: 'inv.ts' }))[0];
  /** Every file and link in /etc/mail, with its digest (the content of links' targets). */
  const etcMail = () => out("cd /etc/mail && find . \\( -type f -o -type l \\) | LC_ALL=C sort | xargs -d '\\n' sha256sum");
  const daemonRunsCf = async () => {
    const ages = parseCfAge(await out(CF_AGE_COMMAND));
    expect(ages.daemonStarted, 'a running sendmail daemon').toBeDefined();
    expect(ages.daemonStarted! + 1).toBeGreaterThanOrEqual(ages.cfWritten!);
  };
  const noPassword = (x: unknown) => expect(JSON.stringify(x)).not.toContain(password);

  it('a rollback restores what ran: a hand-made host whose mc does not build is applied, then rolled back to exactly its files, cf and maps', async () => {
    await out(h.install);
    await out(h.start);
    // the mc no longer builds, and nobody ran make: sendmail runs on the cf it has
    await out('cat >> /etc/mail/sendmail.mc', BROKEN_LINE);
    const m4 = await remote('cd /etc/mail && m4 sendmail.mc >/dev/null');
    expect(m4.stderr).toContain('end of file in argument list');
    expect((await remote('/usr/sbin/sendmail -bt -d0.1 </dev/null')).code).toBe(0);
    const before = await etcMail();
    expect(before).toContain('./sendmail.cf');

    const applied = await run();
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    expect(await etcMail()).not.toBe(before);

    const log: string[] = [];
    const host = inventory().hosts[0];
    const rb = await rollbackHost(host, { to: 0, dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
    expect(rb.error, log.join('\n')).toBeUndefined();
    // byte for byte: the broken mc, the cf that ran, every map, nothing added, nothing left out
    expect(await etcMail()).toBe(before);
    expect(rb.restored).toEqual(expect.arrayContaining(['/etc/mail/sendmail.cf', '/etc/mail/sendmail.mc']));
    // never rebuilt from the mc that does not build
    expect(log.join('\n')).not.toMatch(/rebuild: run make in \/etc\/mail/);
    // sendmail runs, on that cf
    expect((await remote('/usr/sbin/sendmail -bt -d0.1 </dev/null')).code).toBe(0);
    await daemonRunsCf();
    noPassword(rb);
  });

  it('a failing command fails its step: a password rotation onto an authinfo.db that is a directory fails, names makemap and its error, and is rolled back', async () => {
    const applied = await run();
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    const authinfo = await out('cat /etc/mail/authinfo');
    await out('rm -f /etc/mail/authinfo.db && mkdir /etc/mail/authinfo.db');
    const before = await etcMail();

    const rotated = await run({ auth: { user: state.smartHost.user, password: secret.value('rotated-Pa55word') } });
    expect(rotated.status, rotated.error).toBe('rolled-back');
    expect(rotated.error).toMatch(/makemap authinfo/);
    expect(rotated.error).toMatch(/makemap: .*\/etc\/mail\/authinfo/);
    expect(rotated.error).toMatch(/mailprov: step \d+ of \d+ failed \(exit [1-9][0-9]*\): makemap -r hash/);
    expect(rotated.error).not.toContain('rotated-Pa55word');
    expect(resultsToJson('apply', [rotated])).not.toContain('rotated-Pa55word');
    // back to what it was: the old authinfo, the directory in place of its .db
    expect(await out('cat /etc/mail/authinfo')).toBe(authinfo);
    expect((await remote('[ -d /etc/mail/authinfo.db ]')).code).toBe(0);
    expect(await etcMail()).toBe(before);

    await out('rmdir /etc/mail/authinfo.db');
  });

  it('the proof reads what sendmail reads: a map emptied by hand sends mail without AUTH, refused by the smart host; plan names the map, the next apply rebuilds and proves it', async () => {
    const applied = await run();
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    expect((await run({}, true)).status).toBe('unchanged');

    // made stale by hand: sendmail's map has no AuthInfo entry any more, the text still has it
    await out('makemap hash /etc/mail/authinfo < /dev/null');
    const subject = `no auth from ${h.name} ${Date.now()}`;
    const sent = await remote('/usr/sbin/sendmail -Am -v -odi -oi -f root -- ops@example.com', `Subject: ${subject}\n\nhello\n`);
    // the stand-in refuses mail without AUTH, as a real provider does
    expect(`${sent.stdout}${sent.stderr}`).toMatch(/530[ -]5\.7\.0 Authentication Required/);
    // 530 is permanent: sendmail returns the message to its sender (EX_UNAVAILABLE), it never queues it
    expect(sent.code).toBe(69);
    const events = await readSmartHostEvents(state);
    expect(events.filter((e) => e.kind === 'message' && e.user === null)).toEqual([]);

    const plan = await run({}, true);
    const makemap = plan.changes.find((c) => c.resourceId === 'command:makemap authinfo');
    expect(makemap?.reason).toBe(
      '/etc/mail/authinfo.db does not hold what /etc/mail/authinfo says (rebuilt by hand, or a makemap that failed)',
    );
    noPassword(plan);

    const fixed = await run();
    expect([fixed.status, fixed.error]).toEqual(['changed', undefined]);
    const m = await waitForMessage(state.smartHost.storeDir, (x) => x.subject === `mailprov verification from ${h.name}`, 10_000);
    expect(m.authUser).toBe(state.smartHost.user);

    // the proof, not the step's exit status: a makemap that exits 0 and writes nothing (bind-mounted
    // over the real one in the host's mount namespace) leaves the old password in sendmail's map
    await out(
      "printf '#!/bin/sh\\nexit 0\\n' > /root/makemap-noop && chmod 755 /root/makemap-noop && mount --bind /root/makemap-noop /usr/sbin/makemap",
    );
    try {
      const rotated = await run({ auth: { user: state.smartHost.user, password: secret.value('rotated-Pa55word') } });
      expect(rotated.status, rotated.error).toBe('rolled-back');
      expect(rotated.error).toContain('verification failed: the maps sendmail reads do not hold what was rendered');
      expect(rotated.error).toContain('authinfo AuthInfo:smtp.sandbox.test: sendmail reads a different value');
      expect(rotated.error).not.toContain('rotated-Pa55word');
    } finally {
      await out('umount /usr/sbin/makemap && rm -f /root/makemap-noop');
    }
    expect((await run({}, true)).status).toBe('unchanged');

    // the daemon runs the cf on disk: one written after the daemon started is not what it runs
    await out('touch /etc/mail/sendmail.cf');
    const [stale] = await runHosts(inventory().hosts, {
      dryRun: false,
      alwaysVerify: true,
      forks: 1,
      emit: () => {},
      inventoryFile: 'inv.ts',
    });
    expect(stale.status).toBe('failed');
    expect(stale.error).toContain('the running sendmail daemon started before /etc/mail/sendmail.cf was written');
  });
});
