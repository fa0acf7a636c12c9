// `mailprov status` on a real relay: mail deferred by the stand-in smart host (421 at its greeting)
// shows as queued messages with their decoded cause, in the table, the JSON, the metrics file and
// the Nagios line; once the smart host recovers and the queue is flushed the host is healthy; a
// file edited by hand shows as drift; a host nobody answers for is a state of its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSmartHostMode } from '../../src/sandbox/index.ts';
import type { HostStatus } from '../../src/status/host.ts';
import { closedPorts } from '../closed-port.ts';
import { remote, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1);
const BIN = join(import.meta.dirname, '../../bin/mailprov.mjs');
let work: string;
let inventory: string;

beforeAll(async () => {
  const state = sandbox.state;
  const [closed] = await closedPorts(1);
  work = mkdtempSync(join(tmpdir(), 'mailprov-status-'));
  inventory = join(work, 'inventory.ts');
  // relay1 is the sandbox host; gone is a relay whose address answers nothing
  writeFileSync(
    inventory,
    `import { defineInventory, secret } from 'mailprov';
     import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
     export default defineInventory({
       defaults: { privateKey: ${JSON.stringify(state.privateKey)}, knownHosts: ${JSON.stringify(state.knownHosts)}, connectTimeoutMs: 5000 },
       hosts: {
         relay1: { address: '127.0.0.1', port: ${state.hosts[0].port} },
         gone: { address: '127.0.0.1', port: ${closed} },
       },
       playbooks: [{ use: sendmailSmartHost({
         smartHost: ${JSON.stringify(state.smartHost.name)}, relayFrom: ['192.168'],
         auth: { user: ${JSON.stringify(state.smartHost.user)}, password: secret.file(${JSON.stringify(state.smartHost.passwordFile)}) },
       }) }],
     });\n`,
  );
  await setSmartHostMode(state, { mode: 'normal' });
  const applied = mailprov('apply', '--limit', 'relay1', inventory);
  expect(applied.status, applied.stdout + applied.stderr).toBe(0);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function mailprov(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work });
}

function statusJson(...args: string[]): { code: number | null; hosts: Record<string, HostStatus> } {
  const r = mailprov('status', '--json', ...args, inventory);
  const doc = JSON.parse(r.stdout) as { hosts: HostStatus[] };
  return { code: r.status, hosts: Object.fromEntries(doc.hosts.map((h) => [h.host, h])) };
}

const submit = (subject: string) =>
  remote(
    sandbox.state,
    0,
    '/usr/sbin/sendmail -Am -odi -oi ops@example.com',
    `From: root\nTo: ops@example.com\nSubject: ${subject}\n\nhello\n`,
  );
/** What status must not change: the journal and the lock's folder. */
const journal = async () => (await remote(sandbox.state, 0, 'find /var/lib/mailprov -type f -print0 | sort -z | xargs -0 md5sum')).stdout;

describe('mailprov status', () => {
  it('a deferring smart host: the queue, its age and the decoded cause, in the table, the JSON and the metrics; unreachable is a state', async () => {
    await setSmartHostMode(sandbox.state, { mode: 'tempfail' });
    for (const s of ['first', 'second']) expect((await submit(s)).code).toBe(0);
    const before = await journal();

    const table = mailprov('status', inventory);
    // an unreachable host: exit 3, and the table still has both hosts
    expect(table.status, table.stdout + table.stderr).toBe(3);
    expect(table.stdout).toMatch(/^relay1\s+attention\s+0\s+running\s+\S+\s+2\s+\d+ (s|min)\s/m);
    expect(table.stdout).toMatch(/^gone\s+unreachable\s/m);
    expect(table.stdout).toMatch(/queued: 2 x \[refused-at-greeting\] smtp\.sandbox\.test:587 refuses service for now/);

    const metricsFile = join(work, 'mailprov.prom');
    const r = mailprov('status', '--json', '--prometheus', metricsFile, inventory);
    // the metrics file carries the state: writing it is a success
    expect(r.status, r.stderr).toBe(0);
    const hosts = Object.fromEntries((JSON.parse(r.stdout) as { hosts: HostStatus[] }).hosts.map((h) => [h.host, h]));
    const relay1 = hosts.relay1;
    expect(relay1.state).toBe('attention');
    expect(relay1.drift?.changes).toBe(0);
    expect(relay1.service?.running).toBe(true);
    // relayFrom names a network: the playbook's default is every IPv4 address
    expect(relay1.service?.listening).toEqual(['0.0.0.0']);
    expect(relay1.service?.queue.messages).toBe(2);
    expect(relay1.service?.queue.oldestSeconds).toBeGreaterThanOrEqual(0);
    expect(relay1.service?.queue.causes).toEqual([
      expect.objectContaining({ count: 2, code: 'refused-at-greeting', reason: expect.stringMatching(/^Deferred: 421 /) }),
    ]);
    expect(hosts.gone.state).toBe('unreachable');
    expect(hosts.gone.error).toMatch(/gone|127\.0\.0\.1/);

    // the metrics file, read by a Prometheus text-format parser, has the same figures
    const families = parsePrometheusTextFormat(readFileSync(metricsFile, 'utf8'));
    const value = (name: string, labels: Record<string, string>) =>
      families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
    expect(value('mailprov_up', { host: 'relay1' })).toBe('1');
    expect(value('mailprov_up', { host: 'gone' })).toBe('0');
    expect(value('mailprov_queue_messages', { host: 'relay1' })).toBe('2');
    expect(Number(value('mailprov_queue_oldest_seconds', { host: 'relay1' }))).toBeGreaterThanOrEqual(relay1.service!.queue.oldestSeconds!);
    expect(value('mailprov_queue_deferred_messages', { host: 'relay1', cause: 'refused-at-greeting' })).toBe('2');
    expect(value('mailprov_drift_changes', { host: 'relay1' })).toBe('0');
    expect(value('mailprov_sendmail_running', { host: 'relay1' })).toBe('1');

    // read-only: nothing of mailprov's on the host changed
    expect(await journal()).toBe(before);
  }, 60_000);

  it('--nagios: WARNING or CRITICAL by the queue thresholds, CRITICAL for an unreachable host', () => {
    const warn = mailprov('status', '--limit', 'relay1', '--nagios', '--warn-queue', '1', '--crit-queue', '5', inventory);
    expect(warn.status, warn.stdout).toBe(1);
    expect(warn.stdout).toMatch(/^MAILPROV WARNING - relay1 WARNING: 2 queued > 1 \(refused-at-greeting\) \| relay1_queue=2;1;5;0; /);
    const crit = mailprov('status', '--limit', 'relay1', '--nagios', '--warn-queue', '0', '--crit-queue', '1', inventory);
    expect(crit.status, crit.stdout).toBe(2);
    expect(crit.stdout).toMatch(/^MAILPROV CRITICAL - relay1 CRITICAL: 2 queued > 1/);
    expect(crit.stdout.trim().split('\n')).toHaveLength(1);
    // --probe: the stand-in refuses at its greeting, as the queue says
    const probed = mailprov('status', '--limit', 'relay1', '--nagios', '--probe', '--warn-queue', '10', inventory);
    expect(probed.status, probed.stdout).toBe(2);
    expect(probed.stdout).toMatch(/^MAILPROV CRITICAL - relay1 CRITICAL: smart host probe failed \(refused-at-greeting\)/);
    const gone = mailprov('status', '--limit', 'gone', '--nagios', inventory);
    expect(gone.status, gone.stdout).toBe(2);
    expect(gone.stdout).toMatch(/^MAILPROV CRITICAL - gone CRITICAL: unreachable \| gone_queue=U;/);
    const bad = mailprov('status', '--nagios', '--warn-age', 'soon', inventory);
    expect(bad.status, bad.stdout).toBe(3);
    expect(bad.stdout).toMatch(/^MAILPROV UNKNOWN - --warn-age soon: expected a duration/);
  }, 60_000);

  it('after the smart host recovers and the queue is flushed, relay1 is healthy and status exits 0', async () => {
    await setSmartHostMode(sandbox.state, { mode: 'normal' });
    const flushed = await remote(
      sandbox.state,
      0,
      '/usr/sbin/sendmail -bH; timeout 60 /usr/sbin/sendmail -Am -qf -O Timeout.hoststatus=0s',
    );
    expect(flushed.code, flushed.stderr).toBe(0);
    const { code, hosts } = statusJson('--limit', 'relay1');
    expect(code).toBe(0);
    expect(hosts.relay1).toMatchObject({
      state: 'ok',
      problems: [],
      drift: { changes: 0 },
      service: { running: true, queue: { messages: 0, oldestSeconds: null, causes: [] } },
    });
    const nagios = mailprov('status', '--limit', 'relay1', '--nagios', inventory);
    expect(nagios.status, nagios.stdout).toBe(0);
    // --probe: TLS, the credentials and the certificate's expiry, in the JSON and the metrics; the password shows nowhere
    const metricsFile = join(work, 'probe.prom');
    const probed = mailprov('status', '--limit', 'relay1', '--probe', '--json', '--prometheus', metricsFile, inventory);
    expect(probed.status, probed.stderr).toBe(0);
    const probe = (JSON.parse(probed.stdout) as { hosts: HostStatus[] }).hosts[0].probe;
    expect(probe).toMatchObject({ ok: true, tls: true, auth: 'PLAIN', certificate: { subject: 'smtp.sandbox.test' } });
    expect(probe?.certificate?.expiresAt).toBeGreaterThan(Date.now() / 1000);
    const metrics = readFileSync(metricsFile, 'utf8');
    const families = parsePrometheusTextFormat(metrics);
    const expiry = families.find((f) => f.name === 'mailprov_smarthost_cert_expiry_seconds')?.metrics[0];
    expect(expiry).toMatchObject({ labels: { host: 'relay1' }, value: String(probe?.certificate?.expiresAt) });
    expect(families.find((f) => f.name === 'mailprov_probe_success')?.metrics[0]?.value).toBe('1');
    const password = readFileSync(sandbox.state.smartHost.passwordFile, 'utf8').trim();
    for (const out of [probed.stdout, probed.stderr, metrics]) expect(out).not.toContain(password);
    expect(nagios.stdout).toMatch(
      /^MAILPROV OK - 1 host\(s\) OK, no mail waiting \| relay1_queue=0;10;100;0; relay1_oldest=0s;1800;7200;0; relay1_drift=0;0;;0;\n$/,
    );
  }, 60_000);

  it('a file edited by hand shows as drift: the changes plan would make', async () => {
    const edited = await remote(sandbox.state, 0, "printf 'dnl edited by hand\\n' >> /etc/mail/sendmail.mc");
    expect(edited.code).toBe(0);
    const { code, hosts } = statusJson('--limit', 'relay1');
    expect(code).toBe(2);
    expect(hosts.relay1.state).toBe('attention');
    expect(hosts.relay1.drift?.changes).toBeGreaterThanOrEqual(1);
    expect(hosts.relay1.drift?.summaries.join('\n')).toMatch(/sendmail\.mc/);
    // the same count as plan's
    const plan = mailprov('plan', '--json', '--limit', 'relay1', inventory);
    expect(plan.status).toBe(2);
    const planned = (JSON.parse(plan.stdout) as { hosts: { host: string; changes: unknown[] }[] }).hosts[0].changes.length;
    expect(hosts.relay1.drift?.changes).toBe(planned);
  }, 60_000);
});
