// The firewall rule per family: ip6tables has a table, a fact and a saved file of its own; its undo
// record says so, and a record without a family (older mailprov) is IPv4.
import { describe, expect, it } from 'vitest';
import { ip6tablesFact, iptablesFact, parseFilterRules } from '../../../src/facts/builtin.ts';
import { canonicalOpening, canonicalSource, nftRules, ufwRules, type PortOpening } from '../../../src/resources/firewall-native.ts';
import {
  firewalldServiceUndo,
  firewallRule,
  firewallRuleId,
  iptablesRuleUndo,
  persistAddCommand,
  persistRemoveCommand,
  wantedSpecs,
} from '../../../src/resources/firewall.ts';
import { isChange, type Change } from '../../../src/resources/types.ts';
import { script } from '../../../src/transport/script.ts';
import { centosOs, debianOs, fileFact, hostFacts } from '../fixtures.ts';

const RULE = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
const MARKED = '-p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
const v6 = () => firewallRule({ family: 'ipv6', rule: RULE });
/** Each word quoted, as sh`` quotes an argument list. */
const quoted = (spec: string) =>
  spec
    .split(' ')
    .map((w) => `'${w}'`)
    .join(' ');
/** The undo record of an IPv6 rule mailprov added to a rules.v6 it created. */
const v6Record = (more: object = {}) => ({
  kind: 'iptables-rule',
  family: 'ipv6',
  chain: 'INPUT',
  rule: RULE,
  added: true,
  persistFile: '/etc/iptables/rules.v6',
  createdFile: true,
  ...more,
});
const plan = (r: ReturnType<typeof firewallRule>, facts: ReturnType<typeof hostFacts>, changed: string[] = []) =>
  r.plan(facts, { changed: new Set(changed) });
const change = (x: ReturnType<typeof plan>): Change => {
  if (!isChange(x)) throw new Error(`expected a change, got: ${x.reason}`);
  return x;
};

describe('the ip6tables fact', () => {
  it('runs ip6tables -S, and leaves firewalld to the iptables fact', () => {
    const script = ip6tablesFact.script(undefined);
    expect(script).toContain('ip6tables -S');
    expect(script).not.toContain('firewall-cmd');
    expect(iptablesFact.script(undefined)).toContain('firewall-cmd --state');
    expect(parseFilterRules('-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n')).toEqual({
      available: true,
      rules: ['-P INPUT ACCEPT', '-A INPUT -i lo -j ACCEPT'],
      firewalld: undefined,
    });
    expect(parseFilterRules('MAILPROV_IPTABLES_FAILED\n').available).toBe(false);
  });
});

describe('firewallRule with family ipv6', () => {
  it('has an id of its own beside the IPv4 rule of the same spec', () => {
    expect(v6().id).toBe(`firewall6:INPUT ${RULE}`);
    expect(firewallRule({ rule: RULE }).id).toBe(`firewall:INPUT ${RULE}`);
    expect(firewallRuleId('INPUT', RULE, 'ipv6')).toBe(v6().id);
  });

  it('adds the rule with ip6tables and saves exactly its line in rules.v6 (Debian)', () => {
    const c = change(plan(v6(), hostFacts({ os: debianOs })));
    expect(c.summary).toBe(`add ip6tables rule -A INPUT ${RULE}`);
    expect(c.steps.map((s) => [s.label, s.command])).toEqual([
      [`ip6tables -A INPUT ${RULE}`, `ip6tables -w -A 'INPUT' ${quoted(MARKED)}`],
      ['save rules to /etc/iptables/rules.v6', persistAddCommand('/etc/iptables/rules.v6', 'INPUT', `-A INPUT ${MARKED}`)],
    ]);
    expect(c.steps[1].command).not.toContain('ip6tables-save');
    expect(c.files).toEqual([{ path: '/etc/iptables/rules.v6', keepOnUndo: true }]);
    expect(c.undo).toEqual([v6Record()]);
    expect(c.confirm).toBe(true);
  });

  it("inserts before the stock REJECT of RHEL's ip6tables and saves to /etc/sysconfig/ip6tables", () => {
    const rules6 = [
      '-P INPUT ACCEPT',
      '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
      '-A INPUT -p ipv6-icmp -j ACCEPT',
      '-A INPUT -i lo -j ACCEPT',
      '-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT',
      '-A INPUT -j REJECT --reject-with icmp6-adm-prohibited',
    ];
    const c = change(plan(v6(), hostFacts({ os: centosOs(6), rules6 })));
    expect(c.steps.map((s) => s.label)).toEqual([`ip6tables -I INPUT 5 ${RULE}`, 'save rules to /etc/sysconfig/ip6tables']);
    expect(c.undo[0]).toMatchObject({ family: 'ipv6', persistFile: '/etc/sysconfig/ip6tables' });
  });

  it('reads only the IPv6 table: the IPv4 rule does not count, the IPv6 one live and saved does', () => {
    const saved = `*filter\n-A INPUT ${MARKED}\nCOMMIT\n`;
    const v4Only = hostFacts({ rules: ['-P INPUT ACCEPT', `-A INPUT ${MARKED}`], files: { '/etc/iptables/rules.v4': fileFact(saved) } });
    expect(change(plan(v6(), v4Only)).action).toBe('add-rule');
    const both = hostFacts({ rules6: ['-P INPUT ACCEPT', `-A INPUT ${MARKED}`], files: { '/etc/iptables/rules.v6': fileFact(saved) } });
    expect(plan(v6(), both)).toEqual({ resourceId: v6().id, reason: 'rule present and saved in /etc/iptables/rules.v6' });
    // live but not saved: its line saved, and only that line to undo (mailprov did not add the rule)
    const unsaved = change(plan(v6(), hostFacts({ rules6: ['-P INPUT ACCEPT', `-A INPUT ${RULE}`] })));
    expect([unsaved.summary, unsaved.undo, unsaved.confirm]).toEqual([
      `save ip6tables rule -A INPUT ${RULE} in /etc/iptables/rules.v6`,
      [v6Record({ liveRule: false })],
      false,
    ]);
  });

  it('says so when ip6tables cannot be used', () => {
    const facts = hostFacts();
    const broken = {
      ...facts,
      get: ((fact, arg) => (fact.name === 'ip6tables' ? { available: false, rules: [] } : facts.get(fact, arg))) as typeof facts.get,
    };
    expect(() => plan(v6(), broken)).toThrow(`ip6tables is not available on this host (needed for rule -A INPUT ${RULE})`);
  });

  it('with firewalld: one smtp service for both families, added once', () => {
    const fwd = hostFacts({ os: centosOs(7), firewalld: { runtime: ['ssh'], permanent: ['ssh'] } });
    const r6 = firewallRule({ family: 'ipv6', rule: RULE, firewalldService: 'smtp' });
    // the IPv4 twin adds it: nothing left for IPv6
    expect(plan(r6, fwd, [`firewall:INPUT ${RULE}`])).toEqual({
      resourceId: r6.id,
      reason: `firewalld's smtp service covers IPv6 too (firewall:INPUT ${RULE})`,
    });
    // alone, it adds the service itself
    expect(change(plan(r6, fwd)).undo).toEqual([
      { kind: 'firewalld-service', service: 'smtp', added: true, runtime: true, permanent: true },
    ]);
    const allowed = hostFacts({ os: centosOs(7), firewalld: { runtime: ['smtp'], permanent: ['smtp'] } });
    expect(plan(r6, allowed)).toEqual({ resourceId: r6.id, reason: 'firewalld allows smtp' });
  });
});

describe('the firewalld service, open to everyone', () => {
  const svc = () => firewallRule({ rule: RULE, firewalldService: 'smtp' });
  const fwd = (runtime: string[], permanent: string[]) => hostFacts({ os: centosOs(9), firewalld: { runtime, permanent } });

  it('is added where it lacks, now and permanently, each directly: never --reload, which drops the runtime rules of other tools', () => {
    const both = change(plan(svc(), fwd(['ssh'], ['ssh'])));
    expect(both.steps.map((s) => s.command).join('\n')).not.toContain('--reload');
    const runtimeOnly = change(plan(svc(), fwd(['ssh', 'smtp'], ['ssh'])));
    expect([runtimeOnly.reason, runtimeOnly.steps.map((s) => s.command)]).toEqual([
      'smtp allowed at runtime but not permanently',
      ["firewall-cmd --permanent '--add-service=smtp' >/dev/null"],
    ]);
    expect(runtimeOnly.undo).toEqual([{ kind: 'firewalld-service', service: 'smtp', added: true, runtime: false, permanent: true }]);
  });

  it('its undo takes it out of exactly the layers it was added to; a record of older mailprov meant both', () => {
    const undo = (r: object) =>
      firewalldServiceUndo.steps(firewalldServiceUndo.parse({ kind: 'firewalld-service', service: 'smtp', ...r }), centosOs(9));
    expect(undo({ added: true, runtime: false, permanent: true }).map((s) => s.command)).toEqual([
      "firewall-cmd --permanent '--remove-service=smtp' >/dev/null",
    ]);
    expect(undo({ added: true }).map((s) => s.command)).toEqual([
      "firewall-cmd '--remove-service=smtp' >/dev/null && firewall-cmd --permanent '--remove-service=smtp' >/dev/null",
    ]);
  });
});

describe('the iptables-rule undo record', () => {
  const record = { kind: 'iptables-rule', chain: 'INPUT', rule: RULE, added: true, persistFile: '/etc/iptables/rules.v4' };

  it('reads a record without family (older mailprov) as IPv4', () => {
    const r = iptablesRuleUndo.parse(record);
    expect(r.family).toBe('ipv4');
    const steps = iptablesRuleUndo.steps(r, debianOs);
    expect(steps[0].command).toMatch(/^if iptables -w -C 'INPUT' .* then iptables -w -D 'INPUT' /);
    expect(steps[1].command).toBe(persistRemoveCommand('/etc/iptables/rules.v4', 'INPUT', `-A INPUT ${MARKED}`, false));
    expect(iptablesRuleUndo.describe(r)).toBe(`- iptables rule -A INPUT ${RULE}`);
  });

  it('undoes an IPv6 record with ip6tables and saves rules.v6, and its inverse stays IPv6', () => {
    const r = iptablesRuleUndo.parse({ ...record, family: 'ipv6', persistFile: '/etc/iptables/rules.v6' });
    const steps = iptablesRuleUndo.steps(r, debianOs);
    expect(steps.map((s) => s.label)).toEqual([
      `ip6tables -D INPUT ${RULE} (the rule mailprov added)`,
      "take mailprov's rule out of /etc/iptables/rules.v6",
    ]);
    expect(steps[0].command).toBe(
      `if ip6tables -w -C 'INPUT' ${quoted(MARKED)} 2>/dev/null; then ip6tables -w -D 'INPUT' ${quoted(MARKED)}; fi`,
    );
    expect(steps.map((s) => s.command).join('\n')).not.toMatch(/(^|[\s;($])iptables( |-save)/);
    const back = iptablesRuleUndo.parse(iptablesRuleUndo.inverse(r));
    expect(back).toMatchObject({ family: 'ipv6', added: false });
    expect(iptablesRuleUndo.describe(back)).toBe(`+ ip6tables rule -A INPUT ${RULE}`);
    // putting it back places it as the resource does, with ip6tables throughout
    expect(iptablesRuleUndo.steps(back, debianOs)[0].command).toContain("pos=$(ip6tables -w -S 'INPUT' | grep");
  });

  it('refuses a family it does not know', () => {
    expect(() => iptablesRuleUndo.parse({ ...record, family: 'ipv5' })).toThrow(/undo record of kind iptables-rule is not valid \(family/);
  });
});

describe("iptables and ip6tables open to relayFrom's networks only", () => {
  const OFFICE: PortOpening = { proto: 'tcp', port: 25, sources: { ipv4: ['192.168.77.0/24', '10.1.2.3'], ipv6: ['fd00:1::/32'] } };
  const v4 = (open: PortOpening) => firewallRule({ rule: RULE, firewalldService: 'smtp', open });
  const v6open = (open: PortOpening) => firewallRule({ family: 'ipv6', rule: RULE, firewalldService: 'smtp', open });
  const line = (source: string) => `-A INPUT -s ${source} ${MARKED}`;
  const REJECTING = ['-P INPUT ACCEPT', '-A INPUT -i lo -j ACCEPT', '-A INPUT -j REJECT --reject-with icmp-host-prohibited'];

  it('adds one marked rule per network of its family, in order before the REJECT, and saves each line; the plan says to whom', () => {
    const c = change(plan(v4(OFFICE), hostFacts({ os: centosOs(6), rules: REJECTING })));
    expect(wantedSpecs(RULE, 'ipv4', canonicalOpening(OFFICE))).toEqual([`-s 192.168.77.0/24 ${RULE}`, `-s 10.1.2.3/32 ${RULE}`]);
    expect(c.summary).toBe(
      `add iptables rule -A INPUT -s 192.168.77.0/24 ${RULE}; add iptables rule -A INPUT -s 10.1.2.3/32 ${RULE} (tcp/25 open to 192.168.77.0/24, 10.1.2.3/32, fd00:1::/32)`,
    );
    expect(c.steps.map((s) => s.command)).toEqual([
      `iptables -w -I 'INPUT' '2' ${quoted(`-s 192.168.77.0/24 ${MARKED}`)}`,
      `iptables -w -I 'INPUT' '3' ${quoted(`-s 10.1.2.3/32 ${MARKED}`)}`,
      script([
        persistAddCommand('/etc/sysconfig/iptables', 'INPUT', line('192.168.77.0/24')),
        persistAddCommand('/etc/sysconfig/iptables', 'INPUT', line('10.1.2.3/32')),
      ]),
    ]);
    const record = { kind: 'iptables-rule', chain: 'INPUT', added: true, persistFile: '/etc/sysconfig/iptables', createdFile: true };
    expect(c.undo).toEqual([
      { ...record, rule: `-s 192.168.77.0/24 ${RULE}` },
      { ...record, rule: `-s 10.1.2.3/32 ${RULE}` },
    ]);
    expect([c.action, c.confirm]).toEqual(['add-rule', true]);
    // IPv6 sources go to ip6tables, and only there
    const c6 = change(plan(v6open(OFFICE), hostFacts({ os: debianOs })));
    expect(c6.steps.map((s) => s.label)).toEqual([`ip6tables -A INPUT -s fd00:1::/32 ${RULE}`, 'save rules to /etc/iptables/rules.v6']);
    expect(c6.undo).toEqual([v6Record({ rule: `-s fd00:1::/32 ${RULE}` })]);
  });

  it('keeps the port shut to a family relayFrom names no network of, and says so', () => {
    const only4: PortOpening = { ...OFFICE, sources: { ipv4: ['192.168.77.0/24'], ipv6: [] } };
    expect(plan(v6open(only4), hostFacts({ os: debianOs }))).toEqual({
      resourceId: v6open(only4).id,
      reason: 'tcp/25 opens to 192.168.77.0/24, none of them IPv6: ip6tables keeps it shut',
    });
  });

  it("opened to everyone: the one rule without a source, and the plan says it is everyone's", () => {
    const everyone = change(plan(v4({ ...OFFICE, sources: 'everyone' }), hostFacts({ os: debianOs })));
    expect(everyone.summary).toBe(`add iptables rule -A INPUT ${RULE} (tcp/25 open to everyone)`);
    expect(everyone.undo).toMatchObject([{ rule: RULE, added: true }]);
  });

  it("a change of networks replaces exactly mailprov's old rules, live and saved; a person's rule and mailprov's other rules stay", () => {
    const theirs = `-A INPUT -s 192.168.77.0/24 ${RULE}`;
    const other = '-A INPUT -p tcp -m tcp --dport 587 -m comment --comment mailprov -j ACCEPT';
    const old = [line('192.168.77.0/24'), `-A INPUT ${MARKED}`];
    const facts = hostFacts({
      os: debianOs,
      rules: ['-P INPUT ACCEPT', theirs, other, ...old],
      // the rule without a source (an older apply, to everyone) is saved only
      files: { '/etc/iptables/rules.v4': fileFact(`*filter\n${other}\n${line('192.168.77.0/24')}\n-A INPUT ${MARKED}\nCOMMIT\n`) },
    });
    const narrower: PortOpening = { ...OFFICE, sources: { ipv4: ['192.168.77.200'], ipv6: [] } };
    const c = change(plan(v4(narrower), facts));
    expect(c.action).toBe('change-rule');
    expect(c.summary).toBe(
      `add iptables rule -A INPUT -s 192.168.77.200/32 ${RULE}; take out iptables rule -A INPUT -s 192.168.77.0/24 ${RULE}; take out iptables rule -A INPUT ${RULE} (tcp/25 open to 192.168.77.200/32)`,
    );
    expect(c.reason).toBe("mailprov's rules there now admit 192.168.77.0/24, everyone");
    expect(c.steps.map((s) => s.command)).toEqual([
      `iptables -w -A 'INPUT' ${quoted(`-s 192.168.77.200/32 ${MARKED}`)}`,
      `iptables -w -D 'INPUT' ${quoted(`-s 192.168.77.0/24 ${MARKED}`)}`,
      `iptables -w -D 'INPUT' ${quoted(MARKED)}`,
      script([
        persistAddCommand('/etc/iptables/rules.v4', 'INPUT', line('192.168.77.200/32')),
        persistRemoveCommand('/etc/iptables/rules.v4', 'INPUT', line('192.168.77.0/24'), false),
        persistRemoveCommand('/etc/iptables/rules.v4', 'INPUT', `-A INPUT ${MARKED}`, false),
      ]),
    ]);
    expect(c.steps.map((s) => s.command).join('\n')).not.toContain('587');
    expect(c.undo).toEqual([
      {
        kind: 'iptables-rule',
        chain: 'INPUT',
        rule: `-s 192.168.77.200/32 ${RULE}`,
        added: true,
        persistFile: '/etc/iptables/rules.v4',
        createdFile: false,
      },
      { kind: 'iptables-rule', chain: 'INPUT', rule: `-s 192.168.77.0/24 ${RULE}`, added: false, persistFile: '/etc/iptables/rules.v4' },
      { kind: 'iptables-rule', chain: 'INPUT', rule: RULE, added: false, persistFile: '/etc/iptables/rules.v4' },
    ]);
    // the rollback (last record first) puts the old rules back, live and saved, then takes the new one out
    const rollback = [...c.undo].reverse().flatMap((r) => iptablesRuleUndo.steps(iptablesRuleUndo.parse(r), debianOs));
    expect(rollback.map((s) => s.label)).toEqual([
      `iptables: put back INPUT ${RULE}`,
      'save rules to /etc/iptables/rules.v4',
      `iptables: put back INPUT -s 192.168.77.0/24 ${RULE}`,
      'save rules to /etc/iptables/rules.v4',
      `iptables -D INPUT -s 192.168.77.200/32 ${RULE} (the rule mailprov added)`,
      "take mailprov's rule out of /etc/iptables/rules.v4",
    ]);
    expect(rollback[1].command).toBe(persistAddCommand('/etc/iptables/rules.v4', 'INPUT', `-A INPUT ${MARKED}`));
    expect(rollback[3].command).toBe(persistAddCommand('/etc/iptables/rules.v4', 'INPUT', line('192.168.77.0/24')));
    // and the new set, once there, is no change
    const after = hostFacts({
      os: debianOs,
      rules: ['-P INPUT ACCEPT', theirs, other, line('192.168.77.200/32')],
      files: { '/etc/iptables/rules.v4': fileFact(`*filter\n${other}\n${line('192.168.77.200/32')}\nCOMMIT\n`) },
    });
    expect(isChange(plan(v4(narrower), after))).toBe(false);
  });

  it('records exactly what it did: a rule saved already but not live is inserted, and its undo leaves the saved line', () => {
    const c = change(
      plan(
        v4({ ...OFFICE, sources: { ipv4: ['192.168.77.0/24'], ipv6: [] } }),
        hostFacts({ os: debianOs, files: { '/etc/iptables/rules.v4': fileFact(`*filter\n${line('192.168.77.0/24')}\nCOMMIT\n`) } }),
      ),
    );
    expect(c.steps.map((s) => s.label)).toEqual([`iptables -A INPUT -s 192.168.77.0/24 ${RULE}`]);
    expect(c.undo).toEqual([{ kind: 'iptables-rule', chain: 'INPUT', rule: `-s 192.168.77.0/24 ${RULE}`, added: true }]);
    expect(iptablesRuleUndo.steps(iptablesRuleUndo.parse(c.undo[0]), debianOs).map((s) => s.label)).toEqual([
      `iptables -D INPUT -s 192.168.77.0/24 ${RULE} (the rule mailprov added)`,
    ]);
  });

  it("firewalld: refuses rich rules for relayFrom while the zone allows the smtp service, which admits everyone; the service alone says it is everyone's", () => {
    const open = (services: string[]) => hostFacts({ os: centosOs(9), firewalld: { runtime: services, permanent: services } });
    expect(() => plan(v4(OFFICE), open(['ssh', 'smtp']))).toThrow(
      'firewalld allows the smtp service (tcp/25 from everyone, both families): rich rules for 192.168.77.0/24, 10.1.2.3/32, fd00:1::/32 would change nothing; take the service out of the zone (firewall-cmd --permanent --remove-service=smtp, and at runtime), or set the port open to everyone',
    );
    expect(change(plan(v4(OFFICE), open(['ssh']))).summary).toBe(
      'open tcp/25 to 192.168.77.0/24, 10.1.2.3/32, fd00:1::/32 in firewalld (rich rules for its smtp service)',
    );
    expect(change(plan(v4({ ...OFFICE, sources: 'everyone' }), open(['ssh']))).summary).toBe(
      'allow smtp in firewalld (tcp/25 open to everyone)',
    );
  });

  it('refuses a spec with a source of its own when it opens to networks', () => {
    expect(() => firewallRule({ rule: `-s 10.0.0.0/8 ${RULE}`, open: OFFICE })).toThrow(
      /must not name a source when it is opened to some networks/,
    );
  });
});

describe('source networks as the firewalls print them back', () => {
  it('clears host bits, compresses IPv6 as inet_ntop does, and always writes the prefix', () => {
    expect(canonicalSource('192.168.77.9/24', 'ipv4')).toBe('192.168.77.0/24');
    expect(canonicalSource('10.1.2.3', 'ipv4')).toBe('10.1.2.3/32');
    expect(canonicalSource('2001:DB8:0:0::1', 'ipv6')).toBe('2001:db8::1/128');
    expect(canonicalSource('2001:db8:0:0::/64', 'ipv6')).toBe('2001:db8::/64');
    expect(canonicalSource('fd00:0001::/32', 'ipv6')).toBe('fd00:1::/32');
    // one zero group is not compressed; of two equal runs the first is
    expect(canonicalSource('2001:db8:0:1:1:1:1:1', 'ipv6')).toBe('2001:db8:0:1:1:1:1:1/128');
    expect(canonicalSource('1:0:0:1:0:0:1:1', 'ipv6')).toBe('1::1:0:0:1:1/128');
    expect(canonicalSource('::', 'ipv6')).toBe('::/128');
    for (const [bad, family] of [
      ['192.168.1/24', 'ipv4'],
      ['300.1.1.1', 'ipv4'],
      ['10.0.0.0/33', 'ipv4'],
      ['1::2::3', 'ipv6'],
      ['1:2:3:4:5:6:7:8:9', 'ipv6'],
      ['fd00::/129', 'ipv6'],
    ] as const)
      expect(() => canonicalSource(bad, family), bad).toThrow(/is not an IPv[46] network/);
  });

  it('gives each firewall the form it shows: a host with its prefix in iptables, without it in nft and ufw', () => {
    const open = canonicalOpening({
      proto: 'tcp',
      port: 25,
      sources: { ipv4: ['10.1.2.3', '10.1.2.3/32'], ipv6: ['2001:DB8:0:0:0:0:0:1'] },
    });
    expect(open.sources).toEqual({ ipv4: ['10.1.2.3/32'], ipv6: ['2001:db8::1/128'] });
    expect(wantedSpecs(RULE, 'ipv6', open)).toEqual([`-s 2001:db8::1/128 ${RULE}`]);
    expect(nftRules(open, 'inet')).toEqual([
      'ip saddr 10.1.2.3 tcp dport 25 accept comment "mailprov"',
      'ip6 saddr 2001:db8::1 tcp dport 25 accept comment "mailprov"',
    ]);
    expect(ufwRules(open)).toEqual([
      "allow from 10.1.2.3 to any port 25 proto tcp comment 'mailprov'",
      "allow from 2001:db8::1 to any port 25 proto tcp comment 'mailprov'",
    ]);
    // an IPv6 /32 is a network: ufw keeps its prefix
    expect(ufwRules({ ...open, sources: { ipv4: [], ipv6: ['fd00:1::/32'] } })).toEqual([
      "allow from fd00:1::/32 to any port 25 proto tcp comment 'mailprov'",
    ]);
  });
});
