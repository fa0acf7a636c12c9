// Which firewall decides (facts/firewall.ts), read from what the host's tools print, and how the
// port is opened in a native nftables ruleset and in ufw (resources/firewall-native.ts): marked
// rules, their saved form, and undo records that take out exactly mailprov's rules.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeInputChains, parseFirewall, type FirewallFacts } from '../../../src/facts/firewall.ts';
import {
  firewalldRichUndo,
  nftBlock,
  nftBlockOf,
  nftPersistCommand,
  nftRules,
  nftRulesUndo,
  normNft,
  richRules,
  ufwRules,
  ufwRulesUndo,
  withNftBlock,
  type PortOpening,
} from '../../../src/resources/firewall-native.ts';
import { firewallRule } from '../../../src/resources/firewall.ts';
import { isChange, type Change } from '../../../src/resources/types.ts';
import { debianOs, fileFact, hostFacts } from '../fixtures.ts';

const RULE = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
const OFFICE: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['192.168.77.0/24'], ipv6: ['fd00::/8'] } };
const nft = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => `MP_NFT ${l}`)
    .join('\n');

// what `nft list ruleset` prints on a Debian 13 host with the ruleset, after iptables was used once
const NATIVE = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		tcp dport 22 accept
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
table ip filter {
	comment "# Warning: table ip filter is managed by iptables-nft, do not touch!"
	chain INPUT {
		type filter hook input priority filter; policy drop;
	}
}`;

const CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		tcp dport 22 accept
	}
}
`;

describe('the firewall fact', () => {
  it('finds a native nftables input chain that drops, and passes over the tables iptables-nft made', () => {
    const fw = parseFirewall(nft(NATIVE));
    expect(fw).toMatchObject({
      manager: 'nftables',
      why: 'nftables table inet filter, chain input: policy drop',
      nft: { family: 'inet', table: 'filter', chain: 'input', ours: [] },
    });
    // iptables-nft's table alone is iptables, whatever nft shows of it
    const compat = NATIVE.split('\n').slice(11).join('\n');
    expect(parseFirewall(`${nft(compat)}\nMP_IPT -P INPUT DROP`).manager).toBe('iptables');
  });

  it("reads mailprov's rules without their counters; a chain that ends in drop decides too; one that accepts does not", () => {
    const [chain] = nativeInputChains([
      'table ip fw {',
      '\tchain in {',
      '\t\ttype filter hook input priority 0; policy accept;',
      '\t\tip saddr 192.168.77.0/24 tcp dport 25 counter packets 3 bytes 180 accept comment "mailprov"',
      '\t\tdrop',
      '\t}',
      '}',
    ]);
    expect(chain).toEqual({
      family: 'ip',
      table: 'fw',
      chain: 'in',
      drops: 'its last rule "drop"',
      ours: ['ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"'],
    });
    expect(
      nativeInputChains([
        'table inet f {',
        'chain input {',
        'type filter hook input priority 0; policy accept;',
        'tcp dport 22 accept',
        '}',
        '}',
      ]),
    ).toEqual([]);
  });

  it('says firewalld before ufw, ufw (active) before nftables, and none when nothing drops', () => {
    expect(parseFirewall(`MP_FIREWALLD\nMP_UFW_STATUS Status: active\n${nft(NATIVE)}`).manager).toBe('firewalld');
    expect(parseFirewall(`MP_UFW_STATUS Status: active\nMP_UFW_ADDED ufw allow 22/tcp\n${nft(NATIVE)}`)).toMatchObject({
      manager: 'ufw',
      ufwAdded: ['ufw allow 22/tcp'],
    });
    expect(parseFirewall(`MP_UFW_STATUS Status: inactive\n${nft(NATIVE)}`).manager).toBe('nftables');
    expect(parseFirewall('MP_IPT -P INPUT ACCEPT\nMP_IPT -P FORWARD ACCEPT').manager).toBe('none');
    expect(parseFirewall('').manager).toBe('none');
  });
});

const fwFacts = (fw: FirewallFacts, conf?: string) =>
  hostFacts({ extra: { firewall: fw }, files: conf === undefined ? {} : { '/etc/nftables.conf': fileFact(conf) } });
const plan4 = (open: PortOpening, facts: ReturnType<typeof hostFacts>) =>
  firewallRule({ rule: RULE, firewalldService: 'smtp', open }).plan(facts, { changed: new Set() });
const change = (x: ReturnType<typeof plan4>): Change => {
  if (!isChange(x)) throw new Error(`expected a change, got: ${x.reason}`);
  return x;
};
const nftFacts = (ours: string[] = []): FirewallFacts => ({
  ...parseFirewall(nft(NATIVE)),
  nft: { family: 'inet', table: 'filter', chain: 'input', drops: 'policy drop', ours },
});

describe('port 25 where a native nftables ruleset decides', () => {
  it('inserts marked rules for each family of relayFrom, saves them as a block of nftables.conf, and installs no iptables rule', () => {
    expect(nftRules(OFFICE, 'inet')).toEqual([
      'ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"',
      'ip6 saddr fd00::/8 tcp dport 25 accept comment "mailprov"',
    ]);
    expect(nftRules(OFFICE, 'ip')).toEqual(['ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"']);
    expect(nftRules({ ...OFFICE, sources: 'everyone' }, 'inet')).toEqual(['tcp dport 25 accept comment "mailprov"']);
    const c = change(plan4(OFFICE, fwFacts(nftFacts(), CONF)));
    expect(c.summary).toBe('open tcp/25 to 192.168.77.0/24, fd00::/8 in nftables inet filter chain input');
    expect(c.reason).toBe('nftables table inet filter, chain input: policy drop');
    expect(c.steps.map((s) => s.command).join('\n')).not.toMatch(/iptables/);
    expect(c.steps[1].command).toContain('nft -c -f');
    expect(c.undo).toEqual([
      {
        kind: 'nft-rules',
        family: 'inet',
        table: 'filter',
        chain: 'input',
        conf: '/etc/nftables.conf',
        rules: nftRules(OFFICE, 'inet'),
        previous: [],
      },
    ]);
    expect(c.confirm).toBe(true);
  });

  it('changes nothing when its rules are live and saved; a saved block without live rules, or other sources, is a change', () => {
    const rules = nftRules(OFFICE, 'inet');
    const saved = withNftBlock(CONF, nftBlock([{ family: 'inet', table: 'filter', chain: 'input', rules }]));
    expect(isChange(plan4(OFFICE, fwFacts(nftFacts(rules), saved)))).toBe(false);
    expect(isChange(plan4(OFFICE, fwFacts(nftFacts([]), saved)))).toBe(true);
    const wider = change(
      plan4({ ...OFFICE, sources: { ipv4: ['10.0.0.0/8', '192.168.77.0/24'], ipv6: [] } }, fwFacts(nftFacts(rules), saved)),
    );
    expect(wider.action).toBe('change-rule');
    // the undo puts back the rules mailprov had
    expect(wider.undo[0]).toMatchObject({
      rules: ['ip saddr { 10.0.0.0/8, 192.168.77.0/24 } tcp dport 25 accept comment "mailprov"'],
      previous: rules,
    });
    // the IPv6 resource leaves it to the IPv4 one's rules
    const v6 = firewallRule({ family: 'ipv6', rule: RULE, open: OFFICE }).plan(fwFacts(nftFacts(), CONF), { changed: new Set() });
    expect(isChange(v6)).toBe(false);
  });

  it('finds its rules for an IPv6 network written long, or a host, as nft prints them back, and changes nothing', () => {
    const long: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['10.1.2.3/32'], ipv6: ['2001:DB8:0:0::/64'] } };
    const shown = [
      'ip saddr 10.1.2.3 tcp dport 25 accept comment "mailprov"',
      'ip6 saddr 2001:db8::/64 tcp dport 25 accept comment "mailprov"',
    ];
    const saved = withNftBlock(CONF, nftBlock([{ family: 'inet', table: 'filter', chain: 'input', rules: shown }]));
    expect(isChange(plan4(long, fwFacts(nftFacts(shown), saved)))).toBe(false);
  });

  // what `nft list ruleset` prints for the common Debian split: a table per family, each input chain dropping
  const SPLIT = `table ip filter {
	chain input {
		type filter hook input priority filter; policy drop;
		tcp dport 22 accept
	}
}
table ip6 filter {
	chain input {
		type filter hook input priority filter; policy drop;
		tcp dport 22 accept
	}
}`;
  const V4 = 'ip saddr 192.168.77.0/24 tcp dport 25 accept comment "mailprov"';
  const V6 = 'ip6 saddr fd00::/8 tcp dport 25 accept comment "mailprov"';
  const ip = { family: 'ip', table: 'filter', chain: 'input' };
  const ip6 = { family: 'ip6', table: 'filter', chain: 'input' };

  it('opens each family in its own table: IPv4 sources in table ip, IPv6 in table ip6, one block of nftables.conf for both', () => {
    const fw = parseFirewall(nft(SPLIT));
    expect(fw.why).toBe('nftables table ip filter, chain input: policy drop; nftables table ip6 filter, chain input: policy drop');
    const c = change(plan4(OFFICE, fwFacts(fw, CONF)));
    expect(c.summary).toBe('open tcp/25 to 192.168.77.0/24, fd00::/8 in nftables ip filter chain input and ip6 filter chain input');
    expect(c.steps.map((s) => s.label)).toEqual([
      `nft: mailprov's rules at the head of ip filter input: ${V4}`,
      `nft: mailprov's rules at the head of ip6 filter input: ${V6}`,
      'save them in /etc/nftables.conf (checked with nft -c -f first)',
    ]);
    expect(c.steps[0].command).toContain(`nft insert rule 'ip' 'filter' 'input' ${V4}`);
    expect(c.steps[1].command).toContain(`nft insert rule 'ip6' 'filter' 'input' ${V6}`);
    const block = nftBlock([
      { ...ip, rules: [V4] },
      { ...ip6, rules: [V6] },
    ]);
    expect(block.split('\n').slice(1, -1)).toEqual([`insert rule ip filter input ${V4}`, `insert rule ip6 filter input ${V6}`]);
    expect(c.steps[2].command).toContain(block.split('\n')[1]);
    expect(c.undo).toEqual([
      {
        kind: 'nft-rules',
        conf: '/etc/nftables.conf',
        chains: [
          { ...ip, rules: [V4], previous: [] },
          { ...ip6, rules: [V6], previous: [] },
        ],
      },
    ]);
    // its undo takes them out of both chains, and the block out of the conf
    const undo = nftRulesUndo.steps(nftRulesUndo.parse(c.undo[0]), debianOs);
    expect(undo.map((s) => s.label)).toEqual([
      "nft: take mailprov's rules out of ip filter input",
      "nft: take mailprov's rules out of ip6 filter input",
      'save them in /etc/nftables.conf (checked with nft -c -f first)',
    ]);
    expect(undo[2].command).toContain("MP_BLOCK=''");
    // once there, live and saved: nothing to do
    const there = parseFirewall(
      nft(
        SPLIT.replace('policy drop;\n\t\ttcp dport 22', `policy drop;\n\t\t${V4}\n\t\ttcp dport 22`).replace(
          /(table ip6 filter \{\n\tchain input \{\n\t\ttype filter hook input priority filter; policy drop;\n)/,
          `$1\t\t${V6}\n`,
        ),
      ),
    );
    expect(there.nftChains!.map((x) => x.ours)).toEqual([[V4], [V6]]);
    expect(isChange(plan4(OFFICE, fwFacts(there, withNftBlock(CONF, block))))).toBe(false);
    // relayFrom without IPv6: the ip6 chain gets nothing, and loses what mailprov had there
    const only4 = change(plan4({ ...OFFICE, sources: { ipv4: ['192.168.77.0/24'], ipv6: [] } }, fwFacts(there, withNftBlock(CONF, block))));
    expect(only4.steps.map((s) => s.label)).toEqual([
      "nft: take mailprov's rules out of ip6 filter input",
      'save them in /etc/nftables.conf (checked with nft -c -f first)',
    ]);
    expect(only4.undo[0]).toMatchObject({
      chains: [
        { ...ip, rules: [V4], previous: [V4] },
        { ...ip6, rules: [], previous: [V6] },
      ],
    });
  });

  it('the conf with both tables and the block passes nft -c -f, and is written; a block nft refuses leaves the conf as it was', () => {
    const SPLIT_CONF = `#!/usr/sbin/nft -f\n\nflush ruleset\n\n${SPLIT}\n`;
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-nft-'));
    const conf = join(dir, 'nftables.conf');
    // the step's own shell, run here in a network namespace of its own (nft -c checks, never loads)
    const run = (block: string | undefined) => {
      writeFileSync(conf, SPLIT_CONF);
      return spawnSync('unshare', ['-rn', 'sh', '-c', nftPersistCommand(conf, block)], { encoding: 'utf8' });
    };
    try {
      const block = nftBlock([
        { ...ip, rules: [V4] },
        { ...ip6, rules: [V6] },
      ]);
      const ok = run(block);
      expect([ok.status, ok.stderr]).toEqual([0, '']);
      expect(readFileSync(conf, 'utf8')).toBe(withNftBlock(SPLIT_CONF, block));
      // an IPv6 source in the ip table: refused by nft, the conf left as it was
      const wrong = run(nftBlock([{ ...ip, rules: [V6] }]));
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toContain('does not pass nft -c -f (left as it was)');
      expect(readFileSync(conf, 'utf8')).toBe(SPLIT_CONF);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens the port in every native input chain that drops and sees the family (each must accept a packet)', () => {
    const two = NATIVE.replace(
      'table ip filter {',
      'table inet extra {\n\tchain in {\n\t\ttype filter hook input priority 10; policy drop;\n\t}\n}\ntable ip filter {',
    );
    const fw = parseFirewall(nft(two));
    expect(fw.why).toBe('nftables table inet filter, chain input: policy drop; nftables table inet extra, chain in: policy drop');
    const c = change(plan4(OFFICE, fwFacts(fw, CONF)));
    expect(c.summary).toBe('open tcp/25 to 192.168.77.0/24, fd00::/8 in nftables inet filter chain input and inet extra chain in');
    expect(c.undo[0]).toMatchObject({
      chains: [
        { family: 'inet', table: 'filter', chain: 'input', rules: [V4, V6] },
        { family: 'inet', table: 'extra', chain: 'in', rules: [V4, V6] },
      ],
    });
  });

  it('reads a one-chain record of the previous version, and writes one chain the same way', () => {
    const old = { kind: 'nft-rules', family: 'inet', table: 'filter', chain: 'input', conf: '/x', rules: [V4], previous: [] };
    const r = nftRulesUndo.parse(old);
    expect(r).toEqual({
      kind: 'nft-rules',
      conf: '/x',
      chains: [{ family: 'inet', table: 'filter', chain: 'input', rules: [V4], previous: [] }],
    });
    expect(nftRulesUndo.inverse(r)).toEqual({ ...old, rules: [], previous: [V4] });
  });

  it('refuses to open the port until the next boot only, when nftables.conf is missing', () => {
    expect(() => plan4(OFFICE, fwFacts(nftFacts()))).toThrow(/\/etc\/nftables.conf is missing/);
  });

  it("edits only mailprov's block of the conf, and takes it out whole", () => {
    const block = nftBlock([{ family: 'inet', table: 'filter', chain: 'input', rules: nftRules(OFFICE, 'inet') }]);
    const once = withNftBlock(CONF, block);
    expect(once.startsWith(CONF)).toBe(true);
    expect(nftBlockOf(once)).toBe(block);
    expect(withNftBlock(once, block)).toBe(once);
    expect(withNftBlock(once, undefined)).toBe(CONF);
    expect(normNft('ip saddr { b, a } tcp dport 25 accept')).toBe(normNft('ip saddr { a, b } tcp dport 25 accept'));
  });

  it('the shell edit of the conf gives what withNftBlock gives (awk, run here; nft -c left to the host)', () => {
    const block = nftBlock([{ family: 'inet', table: 'filter', chain: 'input', rules: nftRules(OFFICE, 'inet') }]);
    const undo = nftRulesUndo.steps(
      nftRulesUndo.parse({
        kind: 'nft-rules',
        family: 'inet',
        table: 'filter',
        chain: 'input',
        conf: '/x',
        rules: [],
        previous: [],
      }),
      debianOs,
    );
    expect(undo.map((s) => s.label)).toEqual([
      "nft: take mailprov's rules out of inet filter input",
      'save them in /x (checked with nft -c -f first)',
    ]);
    const awk = /awk '([^']*)'/.exec(undo[1].command)![1];
    const run = (input: string) =>
      spawnSync('awk', [awk], {
        input,
        encoding: 'utf8',
        env: { ...process.env, MP_BEGIN: block.split('\n')[0], MP_END: block.split('\n').at(-1) },
      }).stdout;
    expect(run(withNftBlock(CONF, block))).toBe(CONF);
  });
});

describe('port 25 where ufw decides', () => {
  const ufw = (added: string[] = []): FirewallFacts => ({ manager: 'ufw', why: 'ufw is active', ufwAdded: added.map((a) => `ufw ${a}`) });

  it("allows each of relayFrom's networks with a rule of its own, marked; ufw saves them itself", () => {
    expect(ufwRules(OFFICE)).toEqual([
      "allow from 192.168.77.0/24 to any port 25 proto tcp comment 'mailprov'",
      "allow from fd00::/8 to any port 25 proto tcp comment 'mailprov'",
    ]);
    const c = change(plan4(OFFICE, fwFacts(ufw(['allow 22/tcp']))));
    expect(c.steps.map((s) => s.command)).toEqual([
      "ufw 'allow' 'from' '192.168.77.0/24' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
      "ufw 'allow' 'from' 'fd00::/8' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
    ]);
    expect(c.undo).toEqual([{ kind: 'ufw-rules', added: ufwRules(OFFICE), removed: [] }]);
  });

  it("changes nothing when they are there, takes out its own rules that are no longer asked for, and never a person's", () => {
    expect(isChange(plan4(OFFICE, fwFacts(ufw(['allow 22/tcp', ...ufwRules(OFFICE)]))))).toBe(false);
    const everyone = change(plan4({ ...OFFICE, sources: 'everyone' }, fwFacts(ufw(['allow 22/tcp', ...ufwRules(OFFICE)]))));
    expect(everyone.steps.map((s) => s.command)).toEqual([
      "ufw delete 'allow' 'from' '192.168.77.0/24' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
      "ufw delete 'allow' 'from' 'fd00::/8' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
      "ufw 'allow' '25/tcp' 'comment' 'mailprov'",
    ]);
    const back = ufwRulesUndo.steps(ufwRulesUndo.parse(everyone.undo[0]), debianOs);
    expect(back.map((s) => s.command)).toEqual([
      "ufw delete 'allow' '25/tcp' 'comment' 'mailprov'",
      "ufw 'allow' 'from' '192.168.77.0/24' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
      "ufw 'allow' 'from' 'fd00::/8' 'to' 'any' 'port' '25' 'proto' 'tcp' 'comment' 'mailprov'",
    ]);
    expect(() => ufwRulesUndo.parse({ kind: 'ufw-rules', added: ["allow 25/tcp; reboot comment 'mailprov'"], removed: [] })).toThrow();
  });

  it('finds its rule for a single address as ufw shows it back (no /32), and changes nothing: no delete and add on every run', () => {
    const host: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['10.1.2.3/32'], ipv6: ['2001:DB8:0:0::1'] } };
    const shown = [
      "allow from 10.1.2.3 to any port 25 proto tcp comment 'mailprov'",
      "allow from 2001:db8::1 to any port 25 proto tcp comment 'mailprov'",
    ];
    expect(plan4(host, fwFacts(ufw(['allow 22/tcp', ...shown])))).toEqual({
      resourceId: `firewall:INPUT ${RULE}`,
      reason: "ufw allows tcp/25 from 10.1.2.3/32, 2001:db8::1/128 (mailprov's rules)",
    });
  });

  it("never replaces a person's ufw rule of the same match (ufw would update it in place); their identical allow counts as open", () => {
    const deny = 'deny from 192.168.77.0/24 to any port 25 proto tcp';
    expect(() => plan4(OFFICE, fwFacts(ufw([deny])))).toThrow(
      `ufw has a rule of its own for this match, "ufw ${deny}": mailprov's "ufw allow from 192.168.77.0/24 to any port 25 proto tcp comment 'mailprov'" would replace it`,
    );
    const byHand = change(plan4(OFFICE, fwFacts(ufw(['allow from 192.168.77.0/24 to any port 25 proto tcp']))));
    expect(byHand.undo).toEqual([
      { kind: 'ufw-rules', added: ["allow from fd00::/8 to any port 25 proto tcp comment 'mailprov'"], removed: [] },
    ]);
  });
});

describe('port 25 where firewalld decides: rich rules marked as mailprov’s', () => {
  const OFFICE4: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['192.168.77.0/24'], ipv6: [] } };
  const ONE: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['192.168.77.9'], ipv6: [] } };
  const MARKED24 = 'rule priority="25" family="ipv4" source address="192.168.77.0/24" service name="smtp" accept';
  const MARKED9 = 'rule priority="25" family="ipv4" source address="192.168.77.9/32" service name="smtp" accept';
  // what mailprov wrote before its rules were marked
  const OLD24 = 'rule family="ipv4" source address="192.168.77.0/24" service name="smtp" accept';
  const THEIRS = 'rule family="ipv4" source address="10.9.0.0/16" service name="ssh" accept';
  const fwd = (runtime: string[], permanent: string[] = runtime, services: string[] = ['ssh']) =>
    hostFacts({
      firewalld: { runtime: services, permanent: services },
      extra: { firewall: { manager: 'firewalld', why: 'firewalld is running', richRules: { runtime, permanent } } },
    });
  const undoSteps = (c: Change) =>
    [...c.undo]
      .reverse()
      .flatMap((r) => (r.kind === 'firewalld-service' ? [] : firewalldRichUndo.steps(firewalldRichUndo.parse(r), debianOs)))
      .map((s) => s.label);

  it('marks each rule with priority 25, and changes nothing when they are there in both layers', () => {
    expect(richRules(OFFICE4, 'smtp')).toEqual([MARKED24]);
    const c = change(plan4(OFFICE4, fwd([THEIRS])));
    expect(c.steps.map((s) => s.command)).toEqual([
      `firewall-cmd '--add-rich-rule=${MARKED24}' >/dev/null && firewall-cmd --permanent '--add-rich-rule=${MARKED24}' >/dev/null`,
    ]);
    expect(c.undo).toEqual([{ kind: 'firewalld-rich-rules', added: [MARKED24], removed: [] }]);
    expect(plan4(OFFICE4, fwd([THEIRS, MARKED24]))).toEqual({
      resourceId: `firewall:INPUT ${RULE}`,
      reason: "firewalld admits smtp from 192.168.77.0/24 (mailprov's rich rules)",
    });
  });

  it("a change of relayFrom replaces exactly mailprov's old rules (new ones first), and the rollback brings the old networks back", () => {
    const c = change(plan4(ONE, fwd([THEIRS, MARKED24])));
    expect([c.action, c.summary, c.reason]).toEqual([
      'change-rule',
      'open tcp/25 to 192.168.77.9/32 in firewalld (rich rules for its smtp service)',
      "firewalld is running; mailprov's rich rules there now admit 192.168.77.0/24",
    ]);
    expect(c.steps.map((s) => s.label)).toEqual([
      `firewall-cmd --add-rich-rule='${MARKED9}' (now and --permanent)`,
      `firewall-cmd --remove-rich-rule='${MARKED24}' (now and --permanent)`,
    ]);
    expect(c.undo).toEqual([{ kind: 'firewalld-rich-rules', added: [MARKED9], removed: [MARKED24] }]);
    expect(undoSteps(c)).toEqual([
      `firewall-cmd --add-rich-rule='${MARKED24}' (now and --permanent)`,
      `firewall-cmd --remove-rich-rule='${MARKED9}' (now and --permanent)`,
    ]);
    // a person's rich rule is never taken out
    expect(c.steps.map((s) => s.command).join('\n')).not.toContain('10.9.0.0');
  });

  it('adopts the unmarked rules mailprov wrote before (same shape), replaces them, and says so in the plan', () => {
    const c = change(plan4(ONE, fwd([OLD24])));
    expect(c.steps.map((s) => s.label)).toEqual([
      `firewall-cmd --add-rich-rule='${MARKED9}' (now and --permanent)`,
      `firewall-cmd --remove-rich-rule='${OLD24}' (now and --permanent)`,
    ]);
    expect(c.details).toEqual([
      `take out unmarked rich rule '${OLD24}': the shape mailprov wrote before it marked its rules (priority="25"), taken as mailprov's; a rollback puts it back`,
    ]);
    // the same network: the old rule gives way to the marked one
    expect(change(plan4(OFFICE4, fwd([OLD24]))).undo).toEqual([{ kind: 'firewalld-rich-rules', added: [MARKED24], removed: [OLD24] }]);
    // the record of an apply before this version (no layers) is both layers, and puts the unmarked rule back
    const old = firewalldRichUndo.parse({ kind: 'firewalld-rich-rules', added: [OLD24], removed: [] });
    expect(firewalldRichUndo.steps(old, debianOs).map((s) => s.command)).toEqual([
      `firewall-cmd '--remove-rich-rule=${OLD24}' >/dev/null && firewall-cmd --permanent '--remove-rich-rule=${OLD24}' >/dev/null`,
    ]);
  });

  it("going to smtpPortFrom 'everyone' adds the service and takes mailprov's rich rules out; its undo puts them back", () => {
    const c = change(plan4({ ...OFFICE4, sources: 'everyone' }, fwd([THEIRS, MARKED24])));
    expect(c.summary).toBe('allow smtp in firewalld (tcp/25 open to everyone)');
    expect(c.steps.map((s) => s.label)).toEqual([
      'firewall-cmd --add-service=smtp (now and --permanent)',
      `firewall-cmd --remove-rich-rule='${MARKED24}' (now and --permanent)`,
    ]);
    expect(c.undo).toEqual([
      { kind: 'firewalld-service', service: 'smtp', added: true, runtime: true, permanent: true },
      { kind: 'firewalld-rich-rules', added: [], removed: [MARKED24] },
    ]);
    expect(undoSteps(c)).toEqual([`firewall-cmd --add-rich-rule='${MARKED24}' (now and --permanent)`]);
    // the service there already, a rich rule of mailprov's left: still a change
    const left = change(plan4({ ...OFFICE4, sources: 'everyone' }, fwd([MARKED24], [MARKED24], ['ssh', 'smtp'])));
    expect([left.action, left.steps.length]).toEqual(['change-rule', 1]);
    expect(isChange(plan4({ ...OFFICE4, sources: 'everyone' }, fwd([THEIRS], [THEIRS], ['ssh', 'smtp'])))).toBe(false);
  });

  it('repairs a layer that lacks a rule in that layer only, and its undo touches that layer only', () => {
    const c = change(plan4(OFFICE4, fwd([], [MARKED24])));
    expect(c.steps.map((s) => s.command)).toEqual([`firewall-cmd '--add-rich-rule=${MARKED24}' >/dev/null`]);
    expect(c.undo).toEqual([{ kind: 'firewalld-rich-rules', added: [MARKED24], removed: [], runtime: true, permanent: false }]);
    expect(firewalldRichUndo.describe(firewalldRichUndo.parse(c.undo[0]))).toBe(`- firewalld ${MARKED24} (now only)`);
  });
});
