// Planning with fixture facts: which changes, why, in which order, and handlers once at the end.
import { describe, expect, it } from 'vitest';
import { checkResources, planHost } from '../../../src/engine/plan.ts';
import { command, file, firewallRule, packages, service, serviceId } from '../../../src/resources/index.ts';
import { fileFact, hostFacts } from '../fixtures.ts';

const resources = () => [
  packages({ names: ['sendmail', 'sendmail-cf'] }),
  file({ path: '/etc/mail/sendmail.mc', content: 'new mc\n', group: 'smmsp', notify: [] }),
  file({ path: '/etc/mail/access', content: 'Connect:127.0.0.1 RELAY\n' }),
  command({ name: 'make', run: 'make -C /etc/mail', onChangeOf: ['file:/etc/mail/sendmail.mc'], notify: [serviceId('sendmail')] }),
  command({
    name: 'makemap access',
    run: 'makemap hash /etc/mail/access < /etc/mail/access',
    onChangeOf: ['file:/etc/mail/access'],
    creates: '/etc/mail/access.db',
  }),
  firewallRule({ rule: '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT' }),
  service({ name: 'sendmail' }),
];

describe('planHost', () => {
  it('plans everything on a fresh host, in order, with reasons', () => {
    const plan = planHost(resources(), hostFacts());
    expect(plan.changes.map((c) => [c.resourceId, c.reason])).toEqual([
      ['packages:sendmail,sendmail-cf', 'not installed'],
      ['file:/etc/mail/sendmail.mc', 'does not exist'],
      ['file:/etc/mail/access', 'does not exist'],
      ['command:make', 'because /etc/mail/sendmail.mc changes'],
      ['command:makemap access', 'because /etc/mail/access changes; /etc/mail/access.db does not exist'],
      ['firewall:INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT', 'rule not present'],
      ['service:sendmail', 'not installed yet'],
    ]);
    // started in this run: the notification from make adds no second restart
    expect(plan.changes.filter((c) => c.resourceId === 'service:sendmail')).toHaveLength(1);
  });

  it('plans nothing when the host is as desired', () => {
    const rule = '-A INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
    const facts = hostFacts({
      packages: { sendmail: true, 'sendmail-cf': true },
      files: {
        '/etc/mail/sendmail.mc': fileFact('new mc\n', 'root', 'smmsp'),
        '/etc/mail/access': fileFact('Connect:127.0.0.1 RELAY\n'),
        '/etc/mail/access.db': fileFact('db'),
        '/etc/iptables/rules.v4': fileFact(`*filter\n${rule}\nCOMMIT\n`),
      },
      rules: ['-P INPUT ACCEPT', rule],
      services: { sendmail: true },
    });
    const plan = planHost(resources(), facts);
    expect(plan.changes).toEqual([]);
    expect(plan.unchanged.map((u) => u.reason)).toContain('nothing it watches changed');
  });

  it('restarts a running service once when several resources notify it', () => {
    const rs = [
      file({ path: '/a', content: 'a', notify: [serviceId('sendmail')] }),
      file({ path: '/b', content: 'b', notify: [serviceId('sendmail')] }),
      service({ name: 'sendmail' }),
    ];
    const plan = planHost(rs, hostFacts({ services: { sendmail: true } }));
    expect(plan.changes.map((c) => c.summary)).toEqual(['create /a', 'create /b', 'restart sendmail']);
    expect(plan.changes[2].reason).toBe('because /a, /b changed');
  });

  it('reports owner and mode drift without rewriting content', () => {
    const plan = planHost(
      [file({ path: '/etc/x', content: 'x', mode: '0600' })],
      hostFacts({ files: { '/etc/x': fileFact('x', 'root', 'root', '0644') } }),
    );
    expect(plan.changes[0].reason).toBe('mode 0644 -> 0600');
    expect(plan.changes[0].steps[0].command).toBe("chown 'root':'root' '/etc/x' && chmod '0600' '/etc/x'");
  });

  it('inserts a firewall rule before the first REJECT', () => {
    const plan = planHost(
      [firewallRule({ rule: '-p tcp --dport 25 -j ACCEPT' })],
      hostFacts({ rules: ['-P INPUT ACCEPT', '-A INPUT -i lo -j ACCEPT', '-A INPUT -j REJECT --reject-with icmp-host-prohibited'] }),
    );
    expect(plan.changes[0].steps[0].label).toBe('iptables -I INPUT 2 -p tcp --dport 25 -j ACCEPT');
  });

  it('flags duplicate resources and notifications of undeclared handlers', () => {
    expect(checkResources([file({ path: '/a', content: '' }), file({ path: '/a', content: 'x', notify: ['service:nope'] })])).toEqual([
      'resource file:/a is declared twice',
      'file:/a notifies service:nope, which is not declared',
    ]);
  });

  it('refuses a command without a guard', () => {
    expect(() => command({ name: 'always', run: 'true' })).toThrow(/needs a guard/);
  });
});
