// The firewall rule per family: ip6tables has a table, a fact and a saved file of its own; its undo
// record says so, and a record without a family (older mailprov) is IPv4.
import { describe, expect, it } from 'vitest';
import { ip6tablesFact, iptablesFact, parseFilterRules } from '../../../src/facts/builtin.ts';
import {
  firewallRule,
  firewallRuleId,
  iptablesRuleUndo,
  persistAddCommand,
  persistRemoveCommand,
} from '../../../src/resources/firewall.ts';
import { isChange, type Change } from '../../../src/resources/types.ts';
import { centosOs, debianOs, fileFact, hostFacts } from '../fixtures.ts';

const RULE = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
const MARKED = '-p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
const v6 = () => firewallRule({ family: 'ipv6', rule: RULE });
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
      [
        `ip6tables -A INPUT ${RULE}`,
        `ip6tables -w -A 'INPUT' ${MARKED.split(' ')
          .map((w) => `'${w}'`)
          .join(' ')}`,
      ],
      ['save rules to /etc/iptables/rules.v6', persistAddCommand('/etc/iptables/rules.v6', 'INPUT', `-A INPUT ${MARKED}`)],
    ]);
    expect(c.steps[1].command).not.toContain('ip6tables-save');
    expect(c.files).toEqual([{ path: '/etc/iptables/rules.v6', keepOnUndo: true }]);
    expect(c.undo).toEqual([
      {
        kind: 'iptables-rule',
        family: 'ipv6',
        chain: 'INPUT',
        rule: RULE,
        added: true,
        persistFile: '/etc/iptables/rules.v6',
        createdFile: true,
      },
    ]);
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
      [
        {
          kind: 'iptables-rule',
          family: 'ipv6',
          chain: 'INPUT',
          rule: RULE,
          added: true,
          persistFile: '/etc/iptables/rules.v6',
          createdFile: true,
          liveRule: false,
        },
      ],
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
    expect(change(plan(r6, fwd)).undo).toEqual([{ kind: 'firewalld-service', service: 'smtp', added: true }]);
    const allowed = hostFacts({ os: centosOs(7), firewalld: { runtime: ['smtp'], permanent: ['smtp'] } });
    expect(plan(r6, allowed)).toEqual({ resourceId: r6.id, reason: 'firewalld allows smtp' });
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
      `if ip6tables -w -C 'INPUT' ${MARKED.split(' ')
        .map((w) => `'${w}'`)
        .join(' ')} 2>/dev/null; then ip6tables -w -D 'INPUT' ${MARKED.split(' ')
        .map((w) => `'${w}'`)
        .join(' ')}; fi`,
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
