// Port 25 opened in the firewall that decides, proven with real traffic over the sandbox LAN: a
// Debian 13 relay whose firewall is a native nftables ruleset (table inet filter, input policy
// drop, ssh allowed: the host) and a Debian 13 relay with ufw active. After apply the
// office client (inside relayFrom) relays through each; the guest on the same wire (outside it)
// cannot even connect, as the firewall admits relayFrom's network only; the rules are mailprov's,
// saved the way each tool saves them, and iptables-persistent is never installed; a rollback takes
// out exactly mailprov's rules and the port is dropped again.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { lanConnect, lanSubmit, relaySettings, sandboxUp, waitForMessage, type SandboxState } from '../../src/sandbox/index.ts';
import { apply, byHost, remote as remoteExec, sandboxInventory, stopSandbox } from './helpers.ts';

let state: SandboxState;

// what a Debian 13 administrator writes: ssh (here through loopback) and replies in, the rest dropped
const NFT_CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		tcp dport 22 accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
`;

const NFT = 0; // relay1
const UFW = 1; // relay2
const remote = (i: number, cmd: string, stdin?: string) => remoteExec(state, i, cmd, stdin);
const out = async (i: number, cmd: string, stdin?: string) => {
  const r = await remote(i, cmd, stdin);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
const inventory = () => sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(state)) }]);
const lan = (i: number) => state.hosts[i].lanAddress!;

beforeAll(async () => {
  state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-firewalls-')), count: 2, lan: true });
  await out(NFT, 'cat > /etc/nftables.conf && nft -f /etc/nftables.conf', NFT_CONF);
  await out(
    UFW,
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null && ufw allow 22/tcp >/dev/null && ufw --force enable',
  );
});

afterAll(async () => {
  await stopSandbox(state);
});

describe('port 25 in the firewall that decides (Debian 13)', () => {
  it('before apply: the office cannot reach port 25 of either relay (dropped)', async () => {
    for (const i of [NFT, UFW])
      expect(await lanConnect(state.lan!, 'office', lan(i), 25), state.hosts[i].name).toMatchObject({ outcome: 'timeout' });
  });

  it("after apply: the office relays through both; the guest is dropped by the firewall; the rules are mailprov's, saved", async () => {
    const results = byHost(await apply(inventory()));
    for (const h of state.hosts) expect([h.name, results[h.name].error, results[h.name].status]).toEqual([h.name, undefined, 'changed']);
    const fw = (name: string) => results[name].changes.find((c) => c.resourceId.startsWith('firewall:'));
    expect(fw('relay1')?.summary).toBe('open tcp/25 to 192.168.77.0/24 in nftables inet filter chain input');
    expect(fw('relay2')?.summary).toBe('open tcp/25 to 192.168.77.0/24 in ufw');
    for (const i of [NFT, UFW]) {
      const subject = `from the office through ${state.hosts[i].name} ${Date.now()}`;
      const sent = await lanSubmit(state.lan!, 'office', lan(i), {
        from: 'printer@office.lan.sandbox.test',
        to: 'ops@example.com',
        subject,
      });
      expect(sent, state.hosts[i].name).toMatchObject({ accepted: true });
      await waitForMessage(state.smartHost.storeDir, (m) => m.subject === subject, 30_000);
      // outside relayFrom: not sendmail's refusal but no answer at all
      expect(await lanConnect(state.lan!, 'guest', lan(i), 25), state.hosts[i].name).toMatchObject({ outcome: 'timeout' });
      // iptables-persistent would have been the wrong tool (and on the ufw host, would remove ufw)
      expect((await remote(i, 'dpkg-query -W -f="${db:Status-Abbrev}" iptables-persistent 2>/dev/null')).stdout).not.toMatch(/^ii/);
    }
    expect(await out(NFT, 'nft list chain inet filter input')).toContain('ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"');
    const conf = await out(NFT, 'cat /etc/nftables.conf');
    expect(conf.startsWith(NFT_CONF)).toBe(true);
    expect(conf).toContain('insert rule inet filter input ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"');
    await out(NFT, 'nft -c -f /etc/nftables.conf');
    expect(await out(UFW, 'ufw show added')).toContain("ufw allow from 192.168.77.0/24 to any port 25 proto tcp comment 'mailprov'");
    // a second apply has nothing to do
    for (const r of await apply(inventory())) expect([r.host, r.status, r.changes]).toEqual([r.host, 'unchanged', []]);
  });

  it("after rollback: exactly mailprov's rules are gone, live and saved, and the port is dropped again", async () => {
    for (const i of [NFT, UFW]) {
      const host = inventory().hosts.find((h) => h.name === state.hosts[i].name)!;
      const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(rb.error, state.hosts[i].name).toBeUndefined();
      expect(await lanConnect(state.lan!, 'office', lan(i), 25), state.hosts[i].name).toMatchObject({ outcome: 'timeout' });
    }
    expect(await out(NFT, 'nft list chain inet filter input')).not.toContain('mailprov');
    expect(await out(NFT, 'cat /etc/nftables.conf')).toBe(NFT_CONF);
    const added = await out(UFW, 'ufw show added');
    expect(added).not.toContain('mailprov');
    expect(added).toContain('ufw allow 22/tcp');
  });
});
