// The formats of `mailprov status`: the Prometheus textfile (read back by a real text-format
// parser), its atomic write, the Nagios line and exit codes, the table and the exit codes.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import type { HostStatus } from '../../../src/status/host.ts';
import { problemsOf } from '../../../src/status/host.ts';
import { DEFAULT_THRESHOLDS, hostNagios, nagiosReport, parseDuration, worst } from '../../../src/status/nagios.ts';
import { prometheusText, writeAtomically } from '../../../src/status/prometheus.ts';
import { statusExitCode, statusTable } from '../../../src/status/render.ts';

const NOW = 1796616000;

function host(name: string, over: Partial<HostStatus> = {}): HostStatus {
  const s: HostStatus = {
    host: name,
    address: '127.0.0.1:22',
    state: 'ok',
    problems: [],
    checkedAt: NOW,
    drift: { changes: 0, summaries: [] },
    service: {
      playbook: 'sendmail-smarthost',
      running: true,
      listening: ['127.0.0.1'],
      queue: { messages: 0, oldestSeconds: null, causes: [] },
      lastDelivery: { at: NOW - 120, line: 'stat=Sent' },
      lastFailure: null,
      logSource: 'journal',
    },
    probe: null,
    ...over,
  };
  s.problems = s.state === 'ok' || s.state === 'attention' ? problemsOf(s, NOW) : s.problems;
  if (s.state === 'ok' && s.problems.length) s.state = 'attention';
  return s;
}

const deferring = (messages: number, oldestSeconds: number) =>
  host('relay1', {
    service: {
      ...host('x').service!,
      queue: {
        messages,
        oldestSeconds,
        causes: [
          {
            count: messages,
            code: 'refused-at-greeting',
            text: 'smtp:587 refuses service for now; try later',
            reason: 'Deferred: 421 4.7.0 Try again later',
          },
        ],
      },
      lastFailure: { at: NOW - 60, line: 'stat=Deferred: 421', code: 'refused-at-greeting', text: 'refuses service for now' },
    },
  });
const unreachable = host('gone', {
  state: 'unreachable',
  drift: null,
  service: null,
  error: 'gone: connection refused',
  problems: ['unreachable'],
});

type Families = ReturnType<typeof parsePrometheusTextFormat>;
const sample = (families: Families, name: string, labels: Record<string, string>) =>
  families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;

describe('prometheusText', () => {
  it('is read by a Prometheus text-format parser, every family a gauge with HELP, labelled by host', () => {
    const probed = host('relay2', {
      probe: { ok: true, tls: true, auth: 'PLAIN', certificate: { subject: 'smtp', issuer: 'CA', expiresAt: NOW + 86400 * 30 } },
      drift: { changes: 3, summaries: ['a', 'b', 'c'] },
    });
    const families = parsePrometheusTextFormat(prometheusText([deferring(4, 900), probed, unreachable]));
    for (const f of families) {
      expect(f.type, f.name).toBe('GAUGE');
      expect(f.help, f.name).not.toBe('');
    }
    expect(sample(families, 'mailprov_up', { host: 'relay1' })).toBe('1');
    expect(sample(families, 'mailprov_up', { host: 'gone' })).toBe('0');
    expect(sample(families, 'mailprov_queue_messages', { host: 'relay1' })).toBe('4');
    expect(sample(families, 'mailprov_queue_oldest_seconds', { host: 'relay1' })).toBe('900');
    expect(sample(families, 'mailprov_queue_oldest_seconds', { host: 'relay2' })).toBe('0');
    expect(sample(families, 'mailprov_queue_deferred_messages', { host: 'relay1', cause: 'refused-at-greeting' })).toBe('4');
    expect(sample(families, 'mailprov_drift_changes', { host: 'relay2' })).toBe('3');
    expect(sample(families, 'mailprov_last_delivery_timestamp_seconds', { host: 'relay1' })).toBe(String(NOW - 120));
    expect(sample(families, 'mailprov_last_failure_timestamp_seconds', { host: 'relay1' })).toBe(String(NOW - 60));
    expect(sample(families, 'mailprov_probe_success', { host: 'relay2' })).toBe('1');
    expect(sample(families, 'mailprov_smarthost_cert_expiry_seconds', { host: 'relay2' })).toBe(String(NOW + 86400 * 30));
    expect(sample(families, 'mailprov_status_timestamp_seconds', { host: 'gone' })).toBe(String(NOW));
    // an unreachable host has no figures but mailprov_up: no made-up zeros
    expect(sample(families, 'mailprov_queue_messages', { host: 'gone' })).toBeUndefined();
    expect(sample(families, 'mailprov_drift_changes', { host: 'gone' })).toBeUndefined();
  });

  it('escapes a host name the format would otherwise break on', () => {
    const name = 'we"ird\\host\nname';
    const families = parsePrometheusTextFormat(prometheusText([host(name)]));
    expect(sample(families, 'mailprov_up', { host: name })).toBe('1');
  });

  it('without --probe, no probe families at all', () => {
    const text = prometheusText([host('relay1')]);
    expect(text).not.toMatch(/mailprov_probe_success|mailprov_smarthost_cert_expiry_seconds/);
  });
});

describe('writeAtomically', () => {
  it('replaces the file whole and leaves no temp file beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-prom-'));
    const file = join(dir, 'mailprov.prom');
    writeFileSync(file, 'old\n');
    writeAtomically(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(readdirSync(dir)).toEqual(['mailprov.prom']);
  });

  it('a folder that does not exist fails the write, and nothing is left', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-prom-'));
    expect(() => writeAtomically(join(dir, 'missing', 'x.prom'), 'x')).toThrow(/ENOENT/);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });
});

describe('--nagios', () => {
  const t = { warnQueue: 1, critQueue: 5, warnAge: 600, critAge: 3600, warnCert: 30 * 86400, critCert: 7 * 86400 };
  // perfdata per the plugin guidelines: 'label'=value[UOM];[warn];[crit];[min];[max]
  const PERF = /^(('[^']+'|[^' =]+)=(U|-?[\d.]+)(s|%|B|KB|MB|TB|c)?;[\d.]*;[\d.]*;[\d.]*;[\d.]*)( |$)/;

  it('OK, WARNING, CRITICAL by the queue and age thresholds (above N alerts), with exit codes 0, 1, 2', () => {
    expect(nagiosReport([deferring(1, 60)], t).code).toBe(0);
    expect(nagiosReport([deferring(2, 60)], t)).toMatchObject({
      code: 1,
      line: expect.stringMatching(/^MAILPROV WARNING - relay1 WARNING: 2 queued > 1 \(refused-at-greeting\) \| /),
    });
    expect(nagiosReport([deferring(6, 60)], t).code).toBe(2);
    expect(nagiosReport([deferring(1, 601)], t)).toMatchObject({ code: 1, line: expect.stringMatching(/oldest queued 601s > 600s/) });
    expect(nagiosReport([deferring(1, 3601)], t).code).toBe(2);
  });

  it('unreachable and a stopped sendmail are CRITICAL, a host not read UNKNOWN, drift a WARNING; the worst wins', () => {
    expect(hostNagios(unreachable, t).state).toBe('CRITICAL');
    expect(hostNagios(host('r', { service: { ...host('x').service!, running: false } }), t).state).toBe('CRITICAL');
    expect(hostNagios(host('r', { state: 'failed', error: 'facts cut short', drift: null, service: null }), t).state).toBe('UNKNOWN');
    expect(hostNagios(host('r', { drift: { changes: 2, summaries: [] } }), t)).toEqual({ state: 'WARNING', why: ['2 change(s) pending'] });
    expect(
      hostNagios(host('r', { probe: { ok: false, tls: null, auth: null, certificate: null, code: 'credentials-refused' } }), t).state,
    ).toBe('CRITICAL');
    expect(worst(['OK', 'UNKNOWN'])).toBe('UNKNOWN');
    expect(worst(['UNKNOWN', 'WARNING'])).toBe('WARNING');
    expect(worst(['WARNING', 'CRITICAL', 'OK'])).toBe('CRITICAL');
    expect(nagiosReport([], t)).toMatchObject({ code: 3, line: 'MAILPROV UNKNOWN - no host selected' });
  });

  it('one line; perfdata after a single |, each item as the guidelines write it', () => {
    const { line } = nagiosReport(
      [deferring(2, 60), unreachable, host('odd name', { state: 'failed', error: 'a\nb | c', drift: null, service: null })],
      t,
    );
    expect(line).not.toMatch(/\n/);
    const [text, perf, ...more] = line.split('|');
    expect(more).toEqual([]);
    expect(text).toMatch(/^MAILPROV CRITICAL - /);
    let rest = perf.trim();
    const items: string[] = [];
    while (rest) {
      const m = PERF.exec(rest);
      expect(m, rest).not.toBeNull();
      items.push(m![1]);
      rest = rest.slice(m![0].length);
    }
    expect(items).toContain('relay1_queue=2;1;5;0;');
    expect(items).toContain('relay1_oldest=60s;600;3600;0;');
    expect(items).toContain('gone_queue=U;1;5;0;');
    expect(items).toContain("'odd name_drift'=U;0;;0;");
  });

  it('reads durations; the defaults are documented ones', () => {
    expect(['90', '90s', '30m', '2h', '1d'].map((d) => parseDuration(d, '--warn-age'))).toEqual([90, 90, 1800, 7200, 86400]);
    expect(() => parseDuration('soon', '--warn-age')).toThrow(/--warn-age soon: expected a duration/);
    expect(DEFAULT_THRESHOLDS).toEqual({
      warnQueue: 10,
      critQueue: 100,
      warnAge: 1800,
      critAge: 7200,
      warnCert: 2592000,
      critCert: 604800,
    });
  });
});

describe('the table and exit codes', () => {
  it('0 all ok, 2 a host needs attention, 3 a host unreachable (over attention)', () => {
    expect(statusExitCode([host('a')])).toBe(0);
    expect(statusExitCode([host('a'), deferring(1, 1)])).toBe(2);
    expect(statusExitCode([deferring(1, 1), unreachable])).toBe(3);
  });

  it('a row per host, then what each needs', () => {
    const text = statusTable([deferring(3, 900), unreachable], NOW);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^HOST\s+STATE\s+DRIFT\s+SENDMAIL\s+LISTENS ON\s+QUEUE\s+OLDEST\s+LAST DELIVERY\s+LAST FAILURE$/);
    expect(lines[1]).toMatch(/^relay1\s+attention\s+0\s+running\s+127\.0\.0\.1\s+3\s+15 min\s+2 min ago\s+60 s ago$/);
    expect(lines[2]).toMatch(/^gone\s+unreachable\s+-\s+-/);
    expect(text).toContain('  queued: 3 x [refused-at-greeting] smtp:587 refuses service for now; try later');
    expect(text).toContain('  unreachable: gone: connection refused');
  });
});

describe("the relay's own certificate (submission)", () => {
  const t = { ...DEFAULT_THRESHOLDS };
  const withCert = (daysLeft: number, selfSigned = false) =>
    host('relay1', {
      service: {
        ...host('x').service!,
        certificate: {
          subject: 'CN=relay1.example.org',
          issuer: 'CN=Office CA',
          names: ['relay1.example.org'],
          expiresAt: NOW + daysLeft * 86400 + 3600,
          selfSigned,
        },
      },
    });

  it('--nagios: OK with more than 30 days left, WARNING under 30, CRITICAL under 7 and once expired; days left in perfdata', () => {
    expect(hostNagios(withCert(90), t)).toEqual({ state: 'OK', why: [] });
    expect(hostNagios(withCert(20), t)).toEqual({ state: 'WARNING', why: ['certificate expires in 20 day(s) < 30 days'] });
    expect(hostNagios(withCert(3), t)).toEqual({ state: 'CRITICAL', why: ['certificate expires in 3 day(s) < 7 days'] });
    expect(hostNagios(withCert(-2), t)).toEqual({ state: 'CRITICAL', why: ['certificate expired < 7 days'] });
    expect(hostNagios(withCert(20), { ...t, warnCert: 10 * 86400 }).state).toBe('OK');
    // the range "30:" alerts below 30, as the plugin guidelines write it
    expect(nagiosReport([withCert(20)], t).line).toContain('relay1_cert_days=20;30:;7:;;');
  });

  it('status: a host whose certificate has fewer than 30 days left needs attention; the table says when it expires', () => {
    expect(withCert(90).state).toBe('ok');
    expect(withCert(20)).toMatchObject({ state: 'attention', problems: ['its certificate expires in 20 day(s)'] });
    expect(withCert(-2).problems).toEqual(['its certificate has expired: clients refuse TLS, and with it AUTH']);
    expect(statusTable([withCert(90)], NOW)).toContain(
      '  certificate: relay1.example.org, issued by CN=Office CA, expires in 90 days (2027-03-07)',
    );
    expect(statusTable([withCert(-2, true)], NOW)).toMatch(/certificate: relay1\.example\.org, self-signed, EXPIRED 47 h ago/);
  });

  it('--prometheus: mailprov_submission_cert_expiry_seconds, only for a host that has one', () => {
    const families = parsePrometheusTextFormat(prometheusText([withCert(90), host('plain')]));
    expect(sample(families, 'mailprov_submission_cert_expiry_seconds', { host: 'relay1' })).toBe(String(NOW + 90 * 86400 + 3600));
    expect(sample(families, 'mailprov_submission_cert_expiry_seconds', { host: 'plain' })).toBeUndefined();
  });
});
