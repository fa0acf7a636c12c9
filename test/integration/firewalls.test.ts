// Port 25 opened in the firewall that decides, proven with real traffic over the sandbox LAN: a
// Debian 13 relay whose firewall is a native nftables ruleset (table inet filter, input policy
// drop, ssh allowed: the host), one with ufw active, and one running a real firewalld (on
// a system D-Bus of its own, started as systemd would start them: the host's PID 1 is tini). After
// apply the office client (inside relayFrom) relays through each; the guest on the same wire
// (outside it) cannot even connect, as the firewall admits relayFrom's network only; the rules are
// mailprov's, saved the way each tool saves them, and iptables-persistent is never installed; a
// rollback takes out exactly mailprov's rules and the port is shut again.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import {
  lanConnect,
  lanSubmit,
  relaySettings,
  sandboxPortProber,
  sandboxUp,
  waitForMessage,
  type SandboxState,
} from '../../src/sandbox/index.ts';
import type { HostResult } from '../../src/engine/events.ts';
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
const FWD = 2; // relay3
const ALL = [NFT, UFW, FWD];
/** Outside what a firewall admits: nftables' and ufw's drop give no answer, firewalld's default zone rejects. */
const shut = (i: number) => (i === FWD ? 'unreachable' : 'timeout');
// marked as mailprov's by its priority (rich rules take no comment)
const RICH = 'rule priority="25" family="ipv4" source address="192.168.77.0/24" service name="smtp" accept';

const remote = (i: number, cmd: string, stdin?: string) => remoteExec(state, i, cmd, stdin);
const out = async (i: number, cmd: string, stdin?: string) => {
  const r = await remote(i, cmd, stdin);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
// each relay listens on its LAN address, and port 25 is proven open from the office client after apply
const inventory = (only?: string[]) =>
  sandboxInventory(
    state,
    [
      {
        on: 'relays',
        use: (host) => {
          const address = state.hosts.find((h) => h.name === host.name)!.lanAddress!;
          return sendmailSmartHost(
            relaySettings(state, { listen: ['127.0.0.1', address], smtpPortProbe: { prober: sandboxPortProber(state)! } }),
          );
        },
      },
    ],
    {},
    only,
  );
const lan = (i: number) => state.hosts[i].lanAddress!;
const name = (i: number) => state.hosts[i].name;
const firewallSummary = (r: HostResult) => r.changes.find((c) => c.resourceId.startsWith('firewall:'))?.summary;
const rollback = (i: number, to?: number) =>
  rollbackHost(inventory([name(i)]).hosts[0], { to, dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });

beforeAll(async () => {
  state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-firewalls-')), count: 3, lan: true });
  await out(NFT, 'cat > /etc/nftables.conf && nft -f /etc/nftables.conf', NFT_CONF);
  const install = (p: string) => `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${p} >/dev/null`;
  await out(UFW, `${install('ufw')} && ufw allow 22/tcp >/dev/null && ufw --force enable`);
  await out(
    FWD,
    `${install('firewalld')} && mkdir -p /run/dbus && dbus-daemon --system --fork && ` +
      '{ setsid firewalld --nofork --nopid </dev/null >/var/log/firewalld.out 2>&1 & }',
  );
  // firewalld answers once its D-Bus name is up and its ruleset loaded: asked until it says so
  const deadline = Date.now() + 60_000;
  while ((await remote(FWD, 'firewall-cmd --state')).stdout.trim() !== 'running') {
    if (Date.now() > deadline) throw new Error(`firewalld did not start: ${await out(FWD, 'cat /var/log/firewalld.out')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  await stopSandbox(state);
});

describe('port 25 in the firewall that decides (Debian 13)', () => {
  it('before apply: the office cannot reach port 25 of any relay (its firewall drops or rejects it)', async () => {
    for (const i of ALL) expect(await lanConnect(state.lan!, 'office', lan(i), 25), name(i)).toMatchObject({ outcome: shut(i) });
  });

  it('plan says which firewall it opens, to whom, and changes nothing', async () => {
    const look = 'firewall-cmd --list-rich-rules; firewall-cmd --permanent --list-rich-rules; nft list ruleset | md5sum';
    const before = await out(FWD, look);
    const results = byHost(await apply(inventory(), true));
    expect(ALL.map((i) => firewallSummary(results[name(i)]))).toEqual([
      'open tcp/25 to 192.168.77.0/24 in nftables inet filter chain input',
      'open tcp/25 to 192.168.77.0/24 in ufw',
      'open tcp/25 to 192.168.77.0/24 in firewalld (rich rules for its smtp service)',
    ]);
    expect(await out(FWD, look)).toBe(before);
    expect(await out(NFT, 'cat /etc/nftables.conf')).toBe(NFT_CONF);
    expect(await out(UFW, 'ufw show added')).not.toContain('mailprov');
  });

  it("after apply: the office relays through each; the guest is shut out by the firewall; the rules are mailprov's, saved", async () => {
    const results = byHost(await apply(inventory()));
    for (const i of ALL) expect([name(i), results[name(i)].error, results[name(i)].status]).toEqual([name(i), undefined, 'changed']);
    for (const i of ALL) {
      const subject = `from the office through ${name(i)} ${Date.now()}`;
      const sent = await lanSubmit(state.lan!, 'office', lan(i), {
        from: 'printer@office.lan.sandbox.test',
        to: 'ops@example.com',
        subject,
      });
      expect(sent, name(i)).toMatchObject({ accepted: true });
      await waitForMessage(state.smartHost.storeDir, (m) => m.subject === subject, 30_000);
      // outside relayFrom: not sendmail's refusal but the firewall's
      expect(await lanConnect(state.lan!, 'guest', lan(i), 25), name(i)).toMatchObject({ outcome: shut(i) });
      // iptables-persistent would have been the wrong tool (and on the ufw host, would remove ufw)
      expect((await remote(i, 'dpkg-query -W -f="${db:Status-Abbrev}" iptables-persistent 2>/dev/null')).stdout).not.toMatch(/^ii/);
    }
    expect(await out(NFT, 'nft list chain inet filter input')).toContain('ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"');
    const conf = await out(NFT, 'cat /etc/nftables.conf');
    expect(conf.startsWith(NFT_CONF)).toBe(true);
    expect(conf).toContain('insert rule inet filter input ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"');
    await out(NFT, 'nft -c -f /etc/nftables.conf');
    expect(await out(UFW, 'ufw show added')).toContain("ufw allow from 192.168.77.0/24 to any port 25 proto tcp comment 'mailprov'");
    expect(await out(FWD, 'firewall-cmd --list-rich-rules; firewall-cmd --permanent --list-rich-rules')).toBe(`${RICH}\n${RICH}\n`);
    // a second apply has nothing to do
    for (const r of await apply(inventory())) expect([r.host, r.status, r.changes]).toEqual([r.host, 'unchanged', []]);
  });

  it('firewalld drift: a rich rule taken out at runtime shows in plan, and the next apply puts it back', async () => {
    await out(FWD, `firewall-cmd '--remove-rich-rule=${RICH}'`);
    expect(await lanConnect(state.lan!, 'office', lan(FWD), 25)).toMatchObject({ outcome: 'unreachable' });
    const [planned] = await apply(inventory(['relay3']), true);
    expect(planned.changes.map((c) => c.summary)).toEqual([
      'open tcp/25 to 192.168.77.0/24 in firewalld (rich rules for its smtp service)',
    ]);
    const [applied] = await apply(inventory(['relay3']));
    expect(applied.error).toBeUndefined();
    expect(await lanConnect(state.lan!, 'office', lan(FWD), 25)).toMatchObject({ outcome: 'open' });
  });

  it("after rollback: exactly mailprov's rules are gone, live and saved, and the port is shut again", async () => {
    // relay3 goes back past the drift repair too: to before the first apply
    for (const [i, to] of [[NFT], [UFW], [FWD, 0]]) {
      const rb = await rollback(i!, to);
      expect(rb.error, name(i!)).toBeUndefined();
      expect(await lanConnect(state.lan!, 'office', lan(i!), 25), name(i!)).toMatchObject({ outcome: shut(i!) });
    }
    expect(await out(NFT, 'nft list chain inet filter input')).not.toContain('mailprov');
    expect(await out(NFT, 'cat /etc/nftables.conf')).toBe(NFT_CONF);
    const added = await out(UFW, 'ufw show added');
    expect(added).not.toContain('mailprov');
    expect(added).toContain('ufw allow 22/tcp');
    // (firewall-cmd prints an empty line for an empty list)
    expect(await out(FWD, 'firewall-cmd --list-rich-rules; firewall-cmd --permanent --list-rich-rules')).toBe('\n\n');
    expect(await out(FWD, 'firewall-cmd --list-services')).toBe('dhcpv6-client ssh\n');
  });

  it("firewalld: a change of relayFrom to one other address shuts the office out (mailprov's old rule taken out); its rollback lets the office in again", async () => {
    const guest = state.lan!.clients.guest.address;
    const GUEST = `rule priority="25" family="ipv4" source address="${guest}/32" service name="smtp" accept`;
    const look = 'firewall-cmd --list-rich-rules; firewall-cmd --permanent --list-rich-rules';
    // the office prober would find the port shut to it, as asked: no probe for this apply
    const moved = sandboxInventory(
      state,
      [{ on: 'relays', use: () => sendmailSmartHost(relaySettings(state, { listen: ['127.0.0.1', lan(FWD)], relayFrom: [guest] })) }],
      {},
      ['relay3'],
    );
    // after the rollback above: the office's rules first, as the first apply made them
    const [first] = await apply(inventory(['relay3']));
    expect([first.status, first.error]).toEqual(['changed', undefined]);
    const [planned] = await apply(moved, true);
    const fw = planned.changes.find((c) => c.resourceId.startsWith('firewall:'))!;
    expect([fw.action, fw.summary, fw.reason]).toEqual([
      'change-rule',
      `open tcp/25 to ${guest}/32 in firewalld (rich rules for its smtp service)`,
      "firewalld is running; mailprov's rich rules there now admit 192.168.77.0/24",
    ]);
    expect(await out(FWD, look)).toBe(`${RICH}\n${RICH}\n`);
    const [applied] = await apply(moved);
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    expect(await out(FWD, look)).toBe(`${GUEST}\n${GUEST}\n`);
    expect(await lanConnect(state.lan!, 'office', lan(FWD), 25)).toMatchObject({ outcome: 'unreachable' });
    expect(await lanConnect(state.lan!, 'guest', lan(FWD), 25)).toMatchObject({ outcome: 'open' });
    // the rollback of that apply puts the office's rule back, now and permanently, and takes the guest's out
    const rb = await rollback(FWD);
    expect(rb.error).toBeUndefined();
    expect(await out(FWD, look)).toBe(`${RICH}\n${RICH}\n`);
    expect(await lanConnect(state.lan!, 'office', lan(FWD), 25)).toMatchObject({ outcome: 'open' });
    expect(await lanConnect(state.lan!, 'guest', lan(FWD), 25)).toMatchObject({ outcome: 'unreachable' });
  });

  it("refuses to replace a person's ufw rule of the same match (ufw would update it in place)", async () => {
    await out(UFW, 'ufw insert 1 deny from 192.168.77.0/24 to any port 25 proto tcp >/dev/null');
    const [r] = await apply(inventory(['relay2']));
    expect(r.status).toBe('failed');
    expect(r.error).toContain('ufw has a rule of its own for this match, "ufw deny from 192.168.77.0/24 to any port 25 proto tcp"');
    expect(await out(UFW, 'ufw show added')).toContain('ufw deny from 192.168.77.0/24 to any port 25 proto tcp');
    await out(UFW, 'ufw delete deny from 192.168.77.0/24 to any port 25 proto tcp >/dev/null');
  });

  it('an apply that leaves port 25 shut to the office (a ufw rule of its own drops the office first) fails, names ufw, and is rolled back', async () => {
    await out(UFW, 'ufw insert 1 deny from 192.168.77.200 >/dev/null');
    const [r] = await apply(inventory(['relay2']));
    expect(r.status, JSON.stringify([r.error, r.findings])).toBe('rolled-back');
    expect(r.error).toMatch(
      /^port 25 of 192\.168\.77\.2 is still shut to the sandbox office client 192\.168\.77\.200 after apply \(timeout\): the firewall that decides here is ufw \(ufw is active\)/,
    );
    const added = await out(UFW, 'ufw show added');
    expect(added).not.toContain('mailprov');
    expect(added).toContain('ufw deny from 192.168.77.200');
  });
  it('nftables with a table per family (ip filter + ip6 filter, both dropping): IPv4 opened in the ip table, IPv6 in the ip6 table; the office relays, the guest is shut out, a rollback shuts it again', async () => {
    const split = `#!/usr/sbin/nft -f

flush ruleset

table ip filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		tcp dport 22 accept
	}
}
table ip6 filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		tcp dport 22 accept
	}
}
`;
    await out(NFT, 'cat > /etc/nftables.conf && nft -f /etc/nftables.conf', split);
    const both = sandboxInventory(
      state,
      [
        {
          on: 'relays',
          use: () =>
            sendmailSmartHost(
              relaySettings(state, {
                listen: ['127.0.0.1', lan(NFT)],
                relayFrom: [state.lan!.office, 'IPv6:fd00:77'],
                smtpPortProbe: { prober: sandboxPortProber(state)! },
              }),
            ),
        },
      ],
      {},
      ['relay1'],
    );
    const [r] = await apply(both);
    expect([r.status, r.error]).toEqual(['changed', undefined]);
    expect(firewallSummary(r)).toBe(
      'open tcp/25 to 192.168.77.0/24, fd00:77::/32 in nftables ip filter chain input and ip6 filter chain input',
    );
    expect(await out(NFT, 'nft list chain ip filter input')).toContain('ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"');
    expect(await out(NFT, 'nft list chain ip6 filter input')).toContain('ip6 saddr fd00:77::/32 tcp dport 25 accept comment "mailprov"');
    const conf = await out(NFT, 'cat /etc/nftables.conf');
    expect(conf.startsWith(split)).toBe(true);
    expect(conf).toContain('insert rule ip6 filter input ip6 saddr fd00:77::/32 tcp dport 25 accept comment "mailprov"');
    await out(NFT, 'nft -c -f /etc/nftables.conf');
    expect(await lanConnect(state.lan!, 'office', lan(NFT), 25)).toMatchObject({ outcome: 'open' });
    expect(await lanConnect(state.lan!, 'guest', lan(NFT), 25)).toMatchObject({ outcome: 'timeout' });
    const rb = await rollback(NFT);
    expect(rb.error).toBeUndefined();
    expect(await out(NFT, 'nft list ruleset')).not.toContain('mailprov');
    expect(await out(NFT, 'cat /etc/nftables.conf')).toBe(split);
    expect(await lanConnect(state.lan!, 'office', lan(NFT), 25)).toMatchObject({ outcome: 'timeout' });
  });
});
