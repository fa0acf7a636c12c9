import { describe, expect, it } from 'vitest';
import { SMTP_RULE, sendmailSmartHost, type SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import { readHistory, rollbackHost } from '../../src/engine/rollback-host.ts';
import { relaySettings, waitForMessage } from '../../src/sandbox/index.ts';
import { shellQuote } from '../../src/transport/quote.ts';
import { apply, byHost, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1, { centos: 1 });

/** The host's own IPv6 address beside ::1, a ULA on its loopback (a sandbox host has no other interface). */
const ULA = 'fd00::25';
const SMTP_MARKED = '-p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
/** B's relayFrom names an IPv6 network too (the ULA's): ip6tables admits that one only, iptables 192.168 as in A. */
const V6_NET = 'fd00::/16';
const MARKED = `-A INPUT -s ${V6_NET} ${SMTP_MARKED}`;

const HOSTS = {
  // every address: one dual-stack daemon on :: serves IPv4 too
  relay1: { index: 0, listen: ['0.0.0.0', '::'], ss: ['*:25'], saved: '/etc/iptables/rules.v6' },
  centos1: {
    index: 1,
    listen: ['127.0.0.1', '::1', ULA],
    ss: ['127.0.0.1:25', '[::1]:25', `[${ULA}]:25`],
    saved: '/etc/sysconfig/ip6tables',
  },
} as const;
type Name = keyof typeof HOSTS;
const NAMES = Object.keys(HOSTS) as Name[];

const out = async (name: Name, cmd: string) => {
  const r = await remoteExec(sandbox.state, HOSTS[name].index, cmd);
  expect(r.code, `${name}: ${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

/** Generation A: IPv4 only (the derived default, listen 0.0.0.0); B: the host's IPv6 addresses and network too. */
const settingsA = (): SendmailSettingsInput => relaySettings(sandbox.state);
const settingsB = (name: Name): SendmailSettingsInput =>
  relaySettings(sandbox.state, { listen: [...HOSTS[name].listen], relayFrom: ['192.168', 'IPv6:fd00'], openSmtpPort: true });
const inventory = (settings: (name: Name) => SendmailSettingsInput) =>
  sandboxInventory(
    sandbox.state,
    NAMES.map((name) => ({ on: name, use: sendmailSmartHost(settings(name)) })),
  );
const hostOf = (name: Name, settings: (name: Name) => SendmailSettingsInput) => inventory(settings).hosts.find((h) => h.name === name)!;

/** Local addresses of listeners on port 25 (`ss -ltn`). */
const listeners = async (name: Name) =>
  (await out(name, "ss -ltnH | awk '{print $4}' | grep ':25$'")).trim().split('\n').filter(Boolean).sort();

/**
 * An SMTP client in bash over /dev/tcp, run inside the host: each line is sent (printf %b: its \r\n
 * escapes become CR LF) after the previous reply, and every reply line read is printed.
 */
const smtpClient = (addr: string, dialogue: string[]) =>
  shellQuote(
    [
      `exec 3<>/dev/tcp/${addr}/25 || exit 1`,
      // a reply ends with the line whose code is followed by a space
      'reply() { while IFS= read -r -t 10 l <&3; do l=${l%$(printf "\\r")}; printf "%s\\n" "$l"; case $l in [0-9][0-9][0-9]" "*) return 0 ;; esac; done; return 1; }',
      'reply || exit 2',
      ...dialogue.map((line) => `printf '%b\\r\\n' ${shellQuote(line)} >&3; reply || exit 3`),
    ].join('\n'),
  );

describe('IPv6 listen addresses', () => {
  it('the CentOS-like host boots with the stock RHEL ip6tables ruleset, which ends in REJECT', async () => {
    const input = (await out('centos1', 'ip6tables -S INPUT')).trim().split('\n');
    expect(input).toContain('-A INPUT -i lo -j ACCEPT');
    expect(input.at(-1)).toBe('-A INPUT -j REJECT --reject-with icmp6-adm-prohibited');
    // iptables-services' way to persist the live IPv6 rules
    expect(await out('centos1', 'service ip6tables save')).toContain('Saving firewall rules to /etc/sysconfig/ip6tables');
    expect(await out('centos1', 'grep "^-A" /etc/sysconfig/ip6tables | tail -n 1')).toBe(
      '-A FORWARD -j REJECT --reject-with icmp6-adm-prohibited\n',
    );
    // the Debian host has no IPv6 rules at all
    expect((await out('relay1', 'ip6tables -S')).trim().split('\n')).toEqual(['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT']);
  });

  it('generation A (IPv4 only) opens port 25 in iptables and leaves ip6tables alone', async () => {
    for (const name of NAMES) await out(name, `ip -6 addr add ${ULA}/64 dev lo nodad`);
    const results = byHost(await apply(inventory(settingsA)));
    for (const name of NAMES) {
      expect(results[name].error, name).toBeUndefined();
      expect(results[name].changes.map((c) => c.resourceId).filter((id) => id.startsWith('firewall'))).toEqual([
        `firewall:INPUT ${SMTP_RULE}`,
      ]);
      expect(await out(name, 'ip6tables -S')).not.toContain('mailprov');
      expect(await listeners(name)).toEqual(['0.0.0.0:25']);
    }
  });

  it('generation B listens on the IPv6 addresses and opens TCP 25 in ip6tables, saved for boot', async () => {
    const results = byHost(await apply(inventory(settingsB)));
    for (const name of NAMES) {
      const r = results[name];
      expect(r.error, name).toBeUndefined();
      expect(r.status).toBe('changed');
      // the IPv4 rule is there since A: only the IPv6 one is new
      expect(r.changes.map((c) => c.resourceId).filter((id) => id.startsWith('firewall'))).toEqual([`firewall6:INPUT ${SMTP_RULE}`]);
      expect(await listeners(name)).toEqual([...HOSTS[name].ss].sort());
      expect((await out(name, 'ip6tables -S INPUT')).split('\n')).toContain(MARKED);
      expect((await out(name, `cat ${HOSTS[name].saved}`)).split('\n')).toContain(MARKED);
    }
    // RHEL: inserted before the stock REJECT, which stays last, in the live rules and the saved ones
    const input = (await out('centos1', 'ip6tables -S INPUT')).trim().split('\n');
    expect(input.indexOf(MARKED)).toBe(input.length - 2);
    const saved = (await out('centos1', 'grep "^-A INPUT" /etc/sysconfig/ip6tables')).trim().split('\n');
    expect(saved.slice(-2)).toEqual([MARKED, '-A INPUT -j REJECT --reject-with icmp6-adm-prohibited']);
    // what a rollback will undo: the rule, marked IPv6, and the file it was saved to
    for (const name of NAMES) {
      const latest = (await readHistory(hostOf(name, settingsB))).generations.at(-1)!;
      expect(latest.undo).toEqual([
        {
          kind: 'iptables-rule',
          family: 'ipv6',
          chain: 'INPUT',
          rule: `-s ${V6_NET} ${SMTP_RULE}`,
          added: true,
          persistFile: HOSTS[name].saved,
          // RHEL ships /etc/sysconfig/ip6tables; on Debian mailprov writes rules.v6 itself (iptables-persistent is
          // installed without autosave), and its rollback removes the file
          createdFile: name !== 'centos1',
        },
      ]);
    }
  });

  it('serves a client inside the host over IPv6: the greeting on ::1 and on its own address, and a relayed message', async () => {
    for (const name of NAMES) {
      for (const addr of ['::1', ULA]) {
        const greeting = await out(name, `timeout 15 bash -c ${smtpClient(addr, ['QUIT'])}`);
        expect(greeting, `${name} [${addr}]`).toMatch(new RegExp(`^220 ${name}\\.sandbox\\.test ESMTP Sendmail`));
        expect(greeting).toContain('221 2.0.0');
      }
      // from ::1 (originated locally, like 127.0.0.1): relayed to the smart host
      const subject = `over IPv6 from ${name}`;
      const dialogue = [
        'EHLO client.sandbox.test',
        `MAIL FROM:<root@${name}.sandbox.test>`,
        'RCPT TO:<ops@example.com>',
        'DATA',
        `Subject: ${subject}\\r\\n\\r\\nsent to [::1]:25\\r\\n.`,
        'QUIT',
      ];
      const session = await out(name, `timeout 20 bash -c ${smtpClient('::1', dialogue)}`);
      expect(session).toMatch(/^250 2\.0\.0 \S+ Message accepted for delivery$/m);
      expect(session).toContain('[IPv6:0:0:0:0:0:0:0:1]');
      const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === subject, 30_000);
      expect(m).toMatchObject({ authUser: sandbox.state.smartHost.user, tls: true, rcptTo: ['ops@example.com'] });
    }
  });

  it('a second apply changes nothing', async () => {
    const results = await apply(inventory(settingsB));
    expect(results.map((r) => [r.host, r.status, r.changes])).toEqual(NAMES.map((n) => [n, 'unchanged', []]));
  });

  it('rollback takes the ip6tables rule out of the live and the saved rules, and leaves the IPv4 one', async () => {
    for (const name of NAMES) {
      // the inventory of A, where the rollback goes (its own steps rebuild the restored files)
      const host = hostOf(name, settingsA);
      const dry = await rollbackHost(host, { dryRun: true, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(dry.plan?.actions).toEqual([`- ip6tables rule -A INPUT -s ${V6_NET} ${SMTP_RULE}`]);
      const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(rb.error, name).toBeUndefined();
      expect(await out(name, 'ip6tables -S')).not.toContain('mailprov');
      // Debian's rules.v6 was mailprov's own: it goes with the rule (RHEL's stays: see below)
      expect(await out(name, `cat ${HOSTS[name].saved} 2>/dev/null || echo absent`)).toEqual(
        name === 'centos1' ? expect.not.stringContaining('mailprov') : 'absent\n',
      );
      expect((await out(name, 'iptables -S INPUT')).split('\n')).toContain(`-A INPUT -s 192.168.0.0/16 ${SMTP_MARKED}`);
      expect(await listeners(name)).toEqual(['0.0.0.0:25']);
    }
    // the stock RHEL rules stay, live and saved
    expect((await out('centos1', 'ip6tables -S INPUT')).trim().split('\n').at(-1)).toBe(
      '-A INPUT -j REJECT --reject-with icmp6-adm-prohibited',
    );
    expect(await out('centos1', 'cat /etc/sysconfig/ip6tables')).toContain('-A INPUT -j REJECT --reject-with icmp6-adm-prohibited');
    // and generation A applies with nothing to do
    const again = await apply(inventory(() => settingsA()));
    expect(again.map((r) => [r.host, r.status, r.changes])).toEqual(NAMES.map((n) => [n, 'unchanged', []]));
  });
});
