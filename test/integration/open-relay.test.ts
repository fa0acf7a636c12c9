// The relay is not open, on real sandbox hosts (Debian and CentOS-like): the check after apply
// passes a correct config and shows it in the verify log; an mc that opens the relay fails the host,
// which is rolled back to its old sendmail.cf; a relayFrom wider than the private ranges is refused
// by the lint before any connection.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import {
  judgeRelayProbes,
  parseRelayProbes,
  relayProbes,
  relayProbeScript,
  renderMc,
  sendmailSettingsSchema,
  type SendmailSettingsInput,
} from '../../playbooks/sendmail-smarthost/index.ts';
import { runHosts } from '../../src/engine/index.ts';
import type { InventoryInput } from '../../src/inventory/schema.ts';
import { relaySettings } from '../../src/sandbox/index.ts';
import { byHost, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(2, { centos: 1, releases: { relay2: 12 } });

const HOSTS = [
  { name: 'relay1', index: 0, distro: { family: 'debian' as const, major: 13 } },
  { name: 'relay2', index: 1, distro: { family: 'debian' as const, major: 12 } },
  { name: 'centos1', index: 2, distro: { family: 'rhel' as const, major: 8 } },
];
const settings = (over: Partial<SendmailSettingsInput> = {}) => relaySettings(sandbox.state, over);
const everywhere = (s: SendmailSettingsInput): InventoryInput['playbooks'] => [{ on: 'relays', use: sendmailSmartHost(s) }];

let runs = 0;
async function run(playbooks: InventoryInput['playbooks'], extraHosts: InventoryInput['hosts'] = {}) {
  const runDir = join(sandbox.state.dir, `runs-${++runs}`);
  const results = byHost(
    await runHosts(sandboxInventory(sandbox.state, playbooks, extraHosts).hosts, { dryRun: false, forks: 3, emit: () => {}, runDir }),
  );
  return { results, log: (host: string) => readFileSync(join(runDir, `${host}.log`), 'utf8') };
}

const remote = (index: number, cmd: string) => remoteExec(sandbox.state, index, cmd);
/** What a failed or refused run must leave as it was: the files and the live cf (without its build-date comments); and the journal. */
async function snapshot(index: number): Promise<{ files: string; generations: number }> {
  const files = await remote(index, 'cd /etc/mail && sha256sum sendmail.mc access access.db; grep -v "^#" sendmail.cf | sha256sum');
  const generations = await remote(index, 'ls /var/lib/mailprov/generations 2>/dev/null | wc -l');
  return { files: files.stdout, generations: Number(generations.stdout) };
}
const snapshots = () => Promise.all(HOSTS.map((h) => snapshot(h.index)));

/** The rendered mc of the host's distro with a line added before the mailers. */
const mcWith = (distro: (typeof HOSTS)[number]['distro'], line: string) =>
  renderMc(sendmailSettingsSchema.parse(settings()), distro).replace('MAILER_DEFINITIONS\n', `${line}\nMAILER_DEFINITIONS\n`);
const perHostMc = (line: string): InventoryInput['playbooks'] =>
  HOSTS.map((h) => ({ on: h.name, use: sendmailSmartHost(settings({ mc: { text: mcWith(h.distro, line) } })) }));

/** The check as verification runs it, on the live config, outside any apply. */
async function liveCheck(index: number): Promise<string> {
  const probes = relayProbes(sendmailSettingsSchema.parse(settings()));
  return judgeRelayProbes(parseRelayProbes((await remote(index, relayProbeScript(probes))).stdout, probes));
}

const PASSED =
  'verify: not an open relay: sendmail refuses clients outside relayFrom relaying to relay-probe@example.org: 198.51.100.7 (5.7.1 "550 Relaying denied"); lets clients inside relay: 127.0.0.1, 192.168.0.1';
/** After apply the check also tries the classic tricks, to a name of the host itself. */
const passedWithTricks = (fqdn: string) =>
  PASSED.replace(
    '; lets clients',
    `; and written as relay-probe%example.org@${fqdn}, "relay-probe@example.org"@${fqdn}, example.org!relay-probe, @${fqdn}:relay-probe@example.org; lets clients`,
  );

describe('the open-relay check', () => {
  it('passes a correct config on Debian and CentOS-like hosts, between the routing check and the test message', async () => {
    const { results, log } = await run(everywhere(settings()));
    for (const h of HOSTS) {
      expect(results[h.name].error, h.name).toBeUndefined();
      expect(results[h.name].status).toBe('changed');
      const lines = log(h.name).split('\n');
      const at = (text: string) => lines.findIndex((l) => l.includes(text));
      const passed = passedWithTricks((await remote(h.index, 'hostname -f')).stdout.trim());
      expect(lines, h.name).toContain(passed);
      expect(at('verify: mail to ops@example.com routes to')).toBeLessThan(at(passed));
      expect(at(passed)).toBeLessThan(at('verify: test message <'));
    }
  });

  it('FEATURE(`promiscuous_relay`) never goes live: the lint refuses it in the mc before connecting', async () => {
    const before = await snapshots();
    const { results } = await run(perHostMc("FEATURE(`promiscuous_relay')dnl"));
    for (const h of HOSTS) {
      const r = results[h.name];
      expect([r.status, r.applied], h.name).toEqual(['failed', 0]);
      expect(r.error).toMatch(/\[relay-widening-feature\] the mc: FEATURE\(promiscuous_relay\) widens relaying/);
    }
    // nothing reached the hosts, not even a generation
    expect(await snapshots()).toEqual(before);
  });

  it('allowRelayFeatures naming promiscuous_relay lets it through the lint, where m4 refuses it and the host is rolled back', async () => {
    const before = await snapshots();
    const playbooks = HOSTS.map((h) => ({
      on: h.name,
      use: sendmailSmartHost(
        settings({ mc: { text: mcWith(h.distro, "FEATURE(`promiscuous_relay')dnl") }, allowRelayFeatures: ['promiscuous_relay'] }),
      ),
    }));
    const { results } = await run(playbooks);
    for (const h of HOSTS) {
      const r = results[h.name];
      expect(r.status, h.name).toBe('rolled-back');
      expect(r.findings.map((f) => [f.level, f.code])).toContainEqual(['warning', 'relay-widening-feature']);
      expect(r.error).toMatch(/m4 rejects the new sendmail\.mc/);
      expect(r.error).toMatch(/promiscuous_relay'\) configures your system as open\s+relay/);
      expect(r.rolledBack?.restored).toEqual([]);
    }
    // the same files and live sendmail.cf, and the rolled-back generation on record
    expect(await snapshots()).toEqual(before.map((b) => ({ ...b, generations: b.generations + 1 })));
  });

  it('refuses features: [relay_mail_from] (and the other relay-widening ones) before connecting, even with force', async () => {
    const before = await snapshots();
    const { results } = await run(everywhere(settings({ features: ['relay_mail_from'], force: true })));
    for (const h of HOSTS) {
      const r = results[h.name];
      expect([r.status, r.applied, r.changes], h.name).toEqual(['failed', 0, []]);
      expect(r.error).toMatch(/\[relay-widening-feature\] features\[0\]: FEATURE\(relay_mail_from\) widens relaying/);
    }
    expect(await snapshots()).toEqual(before);
  });

  it('fails an mc that opens the relay without a warning, and the host goes back to its old sendmail.cf', async () => {
    const before = await snapshots();
    // what FEATURE(`promiscuous_relay') does, minus its warning: m4, make and sendmail accept it
    const { results, log } = await run(perHostMc("define(`_PROMISCUOUS_RELAY_', `1')dnl"));
    for (const h of HOSTS) {
      const r = results[h.name];
      expect(r.status, h.name).toBe('rolled-back');
      expect(r.error).toMatch(
        /^verification failed: sendmail is an open relay: a client at 198\.51\.100\.7 \(named relay-probe\.example\.net, outside relayFrom, sender root@localhost\) may relay to relay-probe@example\.org\n/,
      );
      expect(r.error).toContain(' -> accepted: ');
      expect(r.rolledBack?.restored).toContain('/etc/mail/sendmail.mc');
      // the routing check passed first: the open relay is what failed it
      expect(log(h.name)).toMatch(/verify: mail to ops@example\.com routes to \[smtp\.sandbox\.test\]/);
    }
    // the same files and live sendmail.cf as before (rebuilt from the restored mc), which refuses the outsider again
    expect(await snapshots()).toEqual(before.map((b) => ({ ...b, generations: b.generations + 1 })));
    for (const h of HOSTS) expect(await liveCheck(h.index)).toBe(PASSED.replace('verify: ', ''));
    const { results: again } = await run(everywhere(settings()));
    for (const h of HOSTS) expect([again[h.name].status, again[h.name].changes]).toEqual(['unchanged', []]);
  });

  it('refuses a relayFrom wider than the private ranges before connecting, even with force', async () => {
    const before = await snapshots();
    // a host nobody answers for: refused at lint, it is never connected to
    const ghost = { ghost: { address: '127.0.0.1', port: 1, groups: ['relays'] } };
    for (const over of [{ relayFrom: ['0'] }, { relayFrom: ['198.51'] }, { relayFrom: ['192.168', '198.51'], force: true }]) {
      const { results } = await run(everywhere(settings(over)), ghost);
      for (const name of ['relay1', 'relay2', 'centos1', 'ghost']) {
        const r = results[name];
        expect([r.status, r.applied, r.changes], `${name} ${JSON.stringify(over)}`).toEqual(['failed', 0, []]);
        expect(r.error).toMatch(/^lint found 1 error\(s\)\n {2}\[relay-from-(invalid|public)\] relayFrom\[\d\] "(0|198\.51)" /);
      }
    }
    // not even a generation: nothing reached the hosts
    expect(await snapshots()).toEqual(before);
  });
});
