// What `mailprov status` reads of a sendmail relay: the status script's output (processes, port 25
// sockets, mail log lines in the journal's, rsyslog's and the traditional syslog format) and the
// queue, decoded with the probe's decoder.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseQueue } from '../../../../playbooks/sendmail-smarthost/queue.ts';
import {
  daemonRunning,
  listenAddress,
  logTime,
  parseRelayStatus,
  queueStatus,
  readDeliveries,
  relayStatusScript,
} from '../../../../playbooks/sendmail-smarthost/status.ts';

const ctx = { smartHost: 'smtp.sandbox.test', port: 587, user: 'relay@sandbox.test', caFile: '/etc/ssl/certs/ca-certificates.crt' };
// 2026-12-07T04:00:00Z
const NOW = 1796616000;

const SENT_RFC3339 =
  '2026-12-07T03:50:00.123456+00:00 relay1 sm-mta[1234]: 4B73o0aA001234: to=<ops@example.com>, ctladdr=<root@relay1.sandbox.test> (0/0), delay=00:00:01, xdelay=00:00:01, mailer=relay, pri=30301, relay=smtp.sandbox.test. [127.0.0.2], dsn=2.0.0, stat=Sent (OK: queued as 12)';
const DEFERRED_RFC3339 =
  '2026-12-07T03:55:00.000001+00:00 relay1 sm-mta[1240]: 4B73t0aA001240: to=<ops@example.com>, delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=30301, relay=smtp.sandbox.test. [127.0.0.2], dsn=4.0.0, stat=Deferred: 421 4.7.0 Try again later, closing connection.';
const LOCAL_SENT =
  '2026-12-07T03:58:00.000000+00:00 relay1 sm-mta[1250]: 4B73v0aA001250: to=<root@relay1.sandbox.test>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30301, dsn=2.0.0, stat=Sent';

describe('the status script', () => {
  it('is valid sh (dash parses it)', () => {
    const r = spawnSync('sh', ['-n'], { input: relayStatusScript(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('parses processes, the port 25 sockets, the log source and its lines', () => {
    const facts = parseRelayStatus(
      [
        `now ${NOW}`,
        'tz -0500',
        'ps sendmail: MTA: accepting connections',
        'listen 127.0.0.1:25',
        'listen [::1]:25',
        'listen 127.0.0.1:25',
        'logsource /var/log/mail.log',
        `log ${SENT_RFC3339}`,
        '',
      ].join('\n'),
    );
    expect(facts).toEqual({
      now: NOW,
      tzMinutes: -300,
      processes: ['sendmail: MTA: accepting connections'],
      listening: ['127.0.0.1', '::1'],
      logSource: '/var/log/mail.log',
      log: [SENT_RFC3339],
    });
  });

  it('reads the local address of each ss line', () => {
    expect(listenAddress('127.0.0.1:25')).toBe('127.0.0.1');
    expect(listenAddress('[::1]:25')).toBe('::1');
    expect(listenAddress('*:25')).toBe('0.0.0.0');
    expect(listenAddress('0.0.0.0%lo:25')).toBe('0.0.0.0');
    expect(listenAddress('[fe80::1%eth0]:25')).toBe('fe80::1');
    expect(listenAddress('garbage')).toBeUndefined();
  });

  it('knows the daemon by its title on Debian and RHEL, not by a queue runner or a client', () => {
    expect(daemonRunning(['sendmail: MTA: accepting connections'])).toBe(true);
    expect(daemonRunning(['sendmail: accepting connections'])).toBe(true);
    expect(daemonRunning(['sendmail: MTA: rejecting connections on daemon MTA-v4: load average: 27'])).toBe(true);
    expect(daemonRunning(['sendmail: Queue runner@00:20:00 for /var/spool/clientmqueue'])).toBe(false);
    expect(daemonRunning([])).toBe(false);
  });
});

describe('logTime', () => {
  it("reads the journal's short-unix, RFC 3339 and traditional syslog times", () => {
    expect(logTime(`${NOW - 60}.123456 relay1 sm-mta[1]: x`, NOW, 0)).toBe(NOW - 60);
    expect(logTime(SENT_RFC3339, NOW, 0)).toBe(NOW - 600);
    expect(logTime('2026-12-07T04:00:00+01:00 relay1 sm-mta[1]: x', NOW, 0)).toBe(NOW - 3600);
    expect(logTime('Dec  7 03:59:00 centos1 sendmail[1]: x', NOW, 0)).toBe(NOW - 60);
    expect(logTime('not a time', NOW, 0)).toBeUndefined();
  });

  it("takes a traditional time in the host's zone, and last year's December in January", () => {
    // the host is at -0500: its 22:59 on Dec 6 is 03:59 UTC on Dec 7
    expect(logTime('Dec  6 22:59:00 centos1 sendmail[1]: x', NOW, -300)).toBe(NOW - 60);
    const jan2 = Date.UTC(2027, 0, 2) / 1000;
    expect(logTime('Dec 31 23:00:00 centos1 sendmail[1]: x', jan2, 0)).toBe(Date.UTC(2026, 11, 31, 23) / 1000);
  });
});

describe('readDeliveries', () => {
  it('finds the last delivery to the smart host and the last failure, decoded; local deliveries do not count', () => {
    const { lastDelivery, lastFailure } = readDeliveries(
      { now: NOW, tzMinutes: 0, log: [SENT_RFC3339, DEFERRED_RFC3339, LOCAL_SENT] },
      ctx,
    );
    expect(lastDelivery).toEqual({ at: NOW - 600, line: SENT_RFC3339 });
    expect(lastFailure).toMatchObject({ at: NOW - 300, line: DEFERRED_RFC3339, code: 'refused-at-greeting' });
    expect(lastFailure?.text).toMatch(/^smtp\.sandbox\.test:587 refuses service for now .*; the provider may be limiting/);
  });

  it('knows the smart host by relay= when the mailer is not named relay; an undecoded failure keeps its words', () => {
    const line = `Dec  7 03:59:00 centos1 sendmail[9]: x: to=<a@b>, mailer=esmtp, relay=[smtp.sandbox.test], dsn=5.0.0, stat=Service unavailable`;
    const other = `Dec  7 03:59:30 centos1 sendmail[9]: y: to=<a@b>, mailer=esmtp, relay=mx.elsewhere.example., dsn=4.0.0, stat=Deferred: Connection refused`;
    const { lastDelivery, lastFailure } = readDeliveries({ now: NOW, tzMinutes: 0, log: [line, other] }, ctx);
    expect(lastDelivery).toBeNull();
    expect(lastFailure).toEqual({ at: NOW - 60, line, code: 'unknown', text: 'Service unavailable' });
  });

  it('an empty log is no delivery and no failure', () => {
    expect(readDeliveries({ now: NOW, tzMinutes: 0, log: [] }, ctx)).toEqual({ lastDelivery: null, lastFailure: null });
  });
});

describe('queueStatus', () => {
  it('counts the queue, ages its oldest message, and groups reasons commonest first, decoded as the probe decodes', () => {
    const queue = parseQueue(
      [
        `now ${NOW}`,
        `m\t/var/spool/mqueue\t${NOW - 7200}\tDeferred: 421 4.7.0 Try again later, closing connection.`,
        `m\t/var/spool/mqueue\t${NOW - 600}\tDeferred: 421 4.7.0 Try again later, closing connection.`,
        `m\t/var/spool/mqueue\t${NOW - 60}\tDeferred: 535 5.7.8 Username and Password not accepted`,
        `m\t/var/spool/mqueue-client\t${NOW - 30}\t`,
        'count 4',
      ].join('\n'),
    );
    const q = queueStatus(queue, ctx);
    expect(q.messages).toBe(4);
    expect(q.oldestSeconds).toBe(7200);
    expect(q.causes.map((c) => [c.count, c.code])).toEqual([
      [2, 'refused-at-greeting'],
      [1, 'unknown'],
      [1, 'credentials-refused'],
    ]);
    expect(q.causes[1]).toMatchObject({ reason: '(not tried yet)', text: '(not tried yet)' });
    expect(q.causes[2].text).toMatch(/refused the credentials of relay@sandbox\.test .*; check auth\.user and the password secret/);
  });

  it('an empty queue has no age and no causes', () => {
    expect(queueStatus(parseQueue(`now ${NOW}\ncount 0\n`), ctx)).toEqual({ messages: 0, oldestSeconds: null, causes: [] });
  });
});
