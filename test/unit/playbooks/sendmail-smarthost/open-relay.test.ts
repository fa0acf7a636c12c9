// The open-relay check: which clients it tries, the sendmail -bt dialogue it sends (run through
// dash and bash against a stand-in sendmail), and how it reads sendmail's answers (taken from real
// sandbox hosts).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkNotOpenRelay,
  describeReturn,
  insideAddress,
  ipv6Addr,
  isPrivateNet,
  judgeRelayProbes,
  outsideIpv4,
  parseRelayNet,
  parseRelayProbes,
  relayProbes,
  relayProbeScript,
  relayTrickProbes,
  verdictOf,
  type RelayNet,
} from '../../../../playbooks/sendmail-smarthost/open-relay.ts';
import { sendmailSettingsSchema, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost/settings.ts';

const settings = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', listen: ['0.0.0.0'], relayFrom: ['192.168'], ...s });
const net = (entry: string) => parseRelayNet(entry) as RelayNet;

describe('parseRelayNet', () => {
  it('reads octet prefixes, IPv6 prefixes and addresses, and domains', () => {
    expect(parseRelayNet('192.168')).toEqual({ kind: 'ipv4', octets: [192, 168] });
    expect(parseRelayNet('10.0.0.5')).toEqual({ kind: 'ipv4', octets: [10, 0, 0, 5] });
    expect(parseRelayNet('IPv6:2001:db8')).toEqual({ kind: 'ipv6', groups: [0x2001, 0xdb8], host: false });
    expect(parseRelayNet('IPv6:fd00::5')).toEqual({ kind: 'ipv6', groups: [0xfd00, 0, 0, 0, 0, 0, 0, 5], host: true });
    expect(parseRelayNet('IPv6:::1')).toEqual({ kind: 'ipv6', groups: [0, 0, 0, 0, 0, 0, 0, 1], host: true });
    expect(parseRelayNet('IPv6:fe80:0:0:0:0:0:0:9')).toMatchObject({ host: true });
    expect(parseRelayNet('Clients.Example.com')).toEqual({ kind: 'name', name: 'clients.example.com' });
  });

  it('refuses what sendmail cannot match, or what names no network, saying why', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['0', /0\.x/],
      ['0.0.0.0', /0\.x/],
      ['256.1', /over 255/],
      ['10.0.0.300', /over 255/],
      ['1.2.3.4.5', /5 octets/],
      ['10..1', /empty/],
      ['10.', /empty/],
      ['010.1', /leading zero/],
      ['IPv6:', /nothing after/],
      ['IPv6:2001:0db8', /leading zeros/],
      ['IPv6:fd00:::1', /empty group|more than one/],
      ['IPv6:1::2::3', /more than one/],
      ['IPv6:12345', /more than 4/],
      ['IPv6:fd00:', /empty group/],
      ['IPv6:1:2:3:4:5:6:7:8:9', /9 groups/],
      ['IPv6:1:2:3:4::5:6:7:8', /too many/],
      ['IPv6:::', /unspecified/],
      ['IPv6:::ffff:10.0.0.1', /dotted/],
      ['IPv6:fd00/8', /length/],
      ['com', /top-level/],
      ['-bad.example', /neither/],
      ['host.10', /neither/],
      ['Connect:0', /neither/],
    ];
    for (const [entry, why] of bad) {
      const r = parseRelayNet(entry);
      expect(r, entry).toHaveProperty('error');
      expect((r as { error: string }).error, entry).toMatch(why);
    }
  });
});

describe('isPrivateNet', () => {
  it('knows the private, link-local and loopback ranges, and what is wider than them', () => {
    const inside = [
      '10',
      '10.1',
      '172.16',
      '172.31.9',
      '192.168',
      '192.168.1.7',
      '127',
      '169.254',
      'localhost',
      'IPv6:fd00',
      'IPv6:fc00:1',
    ];
    const more = ['IPv6:fe80', 'IPv6:febf:1', 'IPv6:::1', 'IPv6:0:0:0:0:0:0:0:1'];
    for (const e of [...inside, ...more]) expect(isPrivateNet(net(e)), e).toBe(true);
    const outside = ['172', '172.15', '172.32', '192', '192.169', '169', '11', '198.51', '8.8.8.8', 'IPv6:fec0', 'IPv6:2001:db8'];
    for (const e of [...outside, 'IPv6:fe00', 'IPv6:::2', 'clients.example.com']) expect(isPrivateNet(net(e)), e).toBe(false);
  });
});

describe('addresses', () => {
  it('writes IPv6 client addresses as sendmail does: in full (IPV6_FULL) or as inet_ntop compresses them', () => {
    expect(ipv6Addr([0xfd00, 1, 0, 0, 0, 0, 0, 0])).toEqual({ full: 'IPv6:fd00:1:0:0:0:0:0:0', short: 'IPv6:fd00:1::' });
    expect(ipv6Addr([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]).short).toBe('IPv6:2001:db8::1:0:0:1'); // the first of equal runs
    expect(ipv6Addr([1, 0, 0, 2, 0, 0, 0, 3]).short).toBe('IPv6:1:0:0:2::3'); // the longest run
    expect(ipv6Addr([1, 0, 2, 3, 4, 5, 6, 7]).short).toBe('IPv6:1:0:2:3:4:5:6:7'); // one zero stays
    expect(ipv6Addr([0, 0, 0, 0, 0, 0, 0, 1]).short).toBe('IPv6:::1');
  });

  it('picks a client inside each entry, written so that the entry matches it', () => {
    expect(insideAddress(net('192.168'))).toBe('192.168.0.1');
    expect(insideAddress(net('10'))).toBe('10.0.0.1');
    expect(insideAddress(net('10.0.0'))).toBe('10.0.0.1');
    expect(insideAddress(net('10.0.0.5'))).toBe('10.0.0.5');
    expect(insideAddress(net('IPv6:fd00:0:0'))).toEqual({ full: 'IPv6:fd00:0:0:1:0:0:0:0', short: 'IPv6:fd00:0:0:1::' });
    expect(insideAddress(net('IPv6:fd00::5'))).toEqual({ full: 'IPv6:fd00:0:0:0:0:0:0:5', short: 'IPv6:fd00::5' });
    expect(insideAddress(net('clients.example.com'))).toBeUndefined();
  });

  it('picks an outsider in TEST-NET, outside every entry, never a private address', () => {
    expect(outsideIpv4([net('192.168')])).toBe('198.51.100.7');
    expect(outsideIpv4([net('198.51')])).toBe('203.0.113.7');
    expect(outsideIpv4([net('198'), net('203'), net('192')])).toBe('1.51.100.7');
    const all = Array.from({ length: 223 }, (_, i) => net(String(i + 1)));
    expect(outsideIpv4(all)).toBeUndefined();
  });
});

describe('relayProbes', () => {
  it('tries an outsider with everything an attacker can have, and insiders with nothing but their entry', () => {
    expect(relayProbes(settings({ relayFrom: ['192.168', '10.0.0.5', 'localhost', '192.168'] }))).toEqual([
      {
        inside: false,
        addr: '198.51.100.7',
        name: 'relay-probe.example.net',
        sender: 'root@localhost',
        recipient: 'relay-probe@example.org',
      },
      {
        inside: true,
        entry: '127.0.0.1',
        addr: '127.0.0.1',
        sender: 'relay-probe@relay-probe.example.net',
        recipient: 'relay-probe@example.org',
      },
      {
        inside: true,
        entry: '192.168',
        addr: '192.168.0.1',
        sender: 'relay-probe@relay-probe.example.net',
        recipient: 'relay-probe@example.org',
      },
      {
        inside: true,
        entry: '10.0.0.5',
        addr: '10.0.0.5',
        sender: 'relay-probe@relay-probe.example.net',
        recipient: 'relay-probe@example.org',
      },
    ]);
  });

  it('keeps the recipient and the outsider away from local names and relayFrom', () => {
    const p = relayProbes(settings({ localDomain: 'example.org', relayFrom: ['198.51', 'example.net'], allowPublicRelayFrom: true }));
    expect(p[0]).toMatchObject({ addr: '203.0.113.7', name: 'relay-probe.example.com', recipient: 'relay-probe@example.net' });
    // a domain entry: a client named under it, from an address outside every entry
    expect(p.at(-1)).toMatchObject({ inside: true, entry: 'example.net', addr: '203.0.113.7', name: 'relay-probe.example.net' });
  });

  it('tries an IPv6 outsider when sendmail listens on IPv6', () => {
    const p = relayProbes(settings({ listen: ['0.0.0.0', '::'], relayFrom: ['IPv6:fd00'] }));
    expect(p.map((x) => [x.inside, x.addr])).toEqual([
      [false, '198.51.100.7'],
      [false, { full: 'IPv6:2001:db8:0:0:0:0:0:7', short: 'IPv6:2001:db8::7' }],
      [true, '127.0.0.1'],
      [true, { full: 'IPv6:fd00:1:0:0:0:0:0:0', short: 'IPv6:fd00:1::' }],
    ]);
  });
});

describe('relayProbeScript', () => {
  it('is one command: per probe a marker and a sendmail -bt session on check_rcpt', () => {
    const probes = relayProbes(settings());
    expect(relayProbeScript(probes.slice(0, 2))).toBe(
      [
        "a='198.51.100.7'",
        `printf '\\n@@probe %s %s\\n' 0 "$a"`,
        `printf '%s\\n' '.Dfroot@localhost' ".D{client_addr}$a" '.D{client_name}relay-probe.example.net' '.D{client_resolve}OK' '.D{auth_type}' '.D{verify}' 'check_rcpt <relay-probe@example.org>' | /usr/sbin/sendmail -bt 2>&1`,
        "a='127.0.0.1'",
        `printf '\\n@@probe %s %s\\n' 1 "$a"`,
        `printf '%s\\n' '.Dfrelay-probe@relay-probe.example.net' ".D{client_addr}$a" ".D{client_name}[$a]" '.D{client_resolve}FAIL' '.D{auth_type}' '.D{verify}' 'check_rcpt <relay-probe@example.org>' | /usr/sbin/sendmail -bt 2>&1`,
      ].join('\n'),
    );
  });

  // a stand-in for sendmail: says whether it was built with IPV6_FULL, echoes what -bt would read
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-open-relay-'));
  const stub = join(dir, 'sendmail');
  writeFileSync(
    stub,
    [
      '#!/bin/sh',
      'case "$*" in *-d0.1*) [ -n "$FULL" ] && echo "Compiled with: DNSMAP IPV6_FULL LDAPMAP"; exit 0;; esac',
      'while IFS= read -r line; do echo "read: $line"; done',
      'printf "check_rcpt       returns: RELAY\\n> "',
    ].join('\n'),
  );
  chmodSync(stub, 0o755);

  for (const shell of ['dash', 'bash']) {
    it(`sends sendmail exactly the macros and the check_rcpt line (${shell}), the IPv6 form its build writes`, () => {
      const probes = relayProbes(settings({ listen: ['::'], relayFrom: ['IPv6:fd00'] }));
      const script = relayProbeScript(probes, stub);
      // stdin /dev/null: on a socket, bash would take itself for a remote shell and read ~/.bashrc
      const env = (full: string) => ({ PATH: process.env.PATH, FULL: full });
      const run = (full: string) =>
        execFileSync(shell, ['-c', script], { env: env(full), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const out = run('1');
      expect(out.split('\n').filter((l) => l.startsWith('@@') || l.startsWith('read:'))).toEqual([
        '@@probe 0 198.51.100.7',
        'read: .Dfroot@localhost',
        'read: .D{client_addr}198.51.100.7',
        'read: .D{client_name}relay-probe.example.net',
        'read: .D{client_resolve}OK',
        'read: .D{auth_type}',
        'read: .D{verify}',
        'read: check_rcpt <relay-probe@example.org>',
        '@@probe 1 IPv6:2001:db8:0:0:0:0:0:7',
        'read: .Dfroot@localhost',
        'read: .D{client_addr}IPv6:2001:db8:0:0:0:0:0:7',
        'read: .D{client_name}relay-probe.example.net',
        'read: .D{client_resolve}OK',
        'read: .D{auth_type}',
        'read: .D{verify}',
        'read: check_rcpt <relay-probe@example.org>',
        '@@probe 2 127.0.0.1',
        'read: .Dfrelay-probe@relay-probe.example.net',
        'read: .D{client_addr}127.0.0.1',
        'read: .D{client_name}[127.0.0.1]',
        'read: .D{client_resolve}FAIL',
        'read: .D{auth_type}',
        'read: .D{verify}',
        'read: check_rcpt <relay-probe@example.org>',
        '@@probe 3 IPv6:fd00:1:0:0:0:0:0:0',
        'read: .Dfrelay-probe@relay-probe.example.net',
        'read: .D{client_addr}IPv6:fd00:1:0:0:0:0:0:0',
        'read: .D{client_name}[IPv6:fd00:1:0:0:0:0:0:0]',
        'read: .D{client_resolve}FAIL',
        'read: .D{auth_type}',
        'read: .D{verify}',
        'read: check_rcpt <relay-probe@example.org>',
      ]);
      // the markers start a line of their own after -bt's last prompt, and every probe is read back
      expect(parseRelayProbes(out, probes).map((r) => [r.addr, r.verdict])).toEqual([
        ['198.51.100.7', 'accepted'],
        ['IPv6:2001:db8:0:0:0:0:0:7', 'accepted'],
        ['127.0.0.1', 'accepted'],
        ['IPv6:fd00:1:0:0:0:0:0:0', 'accepted'],
      ]);
      // an older sendmail (no IPV6_FULL) writes IPv6 addresses compressed
      expect(run('').match(/^@@probe .*$/gm)).toEqual([
        '@@probe 0 198.51.100.7',
        '@@probe 1 IPv6:2001:db8::7',
        '@@probe 2 127.0.0.1',
        '@@probe 3 IPv6:fd00:1::',
      ]);
    });
  }
});

// sendmail 8.17.1.9's answers on the sandbox hosts (Debian and CentOS-like alike), the rule traces shortened
const session = (answer: string) =>
  [
    'ADDRESS TEST MODE (ruleset 3 NOT automatically invoked)',
    'Enter <ruleset> <address>',
    '> > > > > > > check_rcpt         input: < relay-probe @ example . org >',
    'Basic_check_rcpt   input: < relay-probe @ example . org >',
    'Rcpt_ok          returns: relay-probe < @ example . org >',
    `Basic_check_rcpt returns: ${answer}`,
    `check_rcpt       returns: ${answer}`,
    '> ',
  ].join('\n');
const DENIED = '$# error $@ 5 . 7 . 1 $: "550 Relaying denied. Proper authentication required."';
const PROMISCUOUS = '< relay-probe @ example . org > $| @ relay-probe < @ example . org >';
const output = (...answers: string[]) =>
  answers.map((a, i) => `\n@@probe ${i} ${['198.51.100.7', '127.0.0.1', '192.168.0.1'][i]}\n${session(a)}`).join('');
const probes = relayProbes(settings());

describe('reading the answers', () => {
  it('tells refusal, temporary failure, discard and acceptance apart', () => {
    expect(verdictOf(DENIED)).toBe('refused');
    expect(verdictOf('$#error $@ nouser $: "553 User address required"')).toBe('refused');
    expect(verdictOf('$# error $@ 4 . 3 . 0 $: "451 Temporary system failure. Please try again later."')).toBe('tempfail');
    expect(verdictOf('$# TEMP $@ 4 . 4 . 0 $: "450 Relaying temporarily denied"')).toBe('tempfail');
    expect(verdictOf('$# discard $: discard')).toBe('discarded');
    expect(verdictOf('RELAY')).toBe('accepted');
    expect(verdictOf('OK')).toBe('accepted');
    expect(verdictOf(PROMISCUOUS)).toBe('accepted'); // FEATURE(`promiscuous_relay'): no check at all
    expect(verdictOf(undefined)).toBe('unknown');
  });

  it('writes an answer for people', () => {
    expect(describeReturn(DENIED)).toBe('5.7.1 "550 Relaying denied. Proper authentication required."');
    expect(describeReturn('$# error $@ 5 . 7 . 1 $: "550 Relaying denied. IP name lookup failed " [ 10 . 1 . 1 . 1 ]')).toBe(
      '5.7.1 "550 Relaying denied. IP name lookup failed " [ 10.1.1.1 ]',
    );
    expect(describeReturn('RELAY')).toBe('RELAY');
  });

  it('passes a relay that refuses the outsider and lets the insiders relay, and says so', () => {
    const results = parseRelayProbes(output(DENIED, 'RELAY', 'RELAY'), probes);
    expect(results.map((r) => r.verdict)).toEqual(['refused', 'accepted', 'accepted']);
    expect(judgeRelayProbes(results)).toBe(
      'not an open relay: sendmail refuses clients outside relayFrom relaying to relay-probe@example.org: 198.51.100.7 (5.7.1 "550 Relaying denied. Proper authentication required."); lets clients inside relay: 127.0.0.1, 192.168.0.1',
    );
  });

  it('fails an open relay, with every answer as evidence', () => {
    const judge = () => judgeRelayProbes(parseRelayProbes(output(PROMISCUOUS, 'RELAY', 'RELAY'), probes));
    expect(judge).toThrow(
      /^verification failed: sendmail is an open relay: a client at 198\.51\.100\.7 \(named relay-probe\.example\.net, outside relayFrom, sender root@localhost\) may relay to relay-probe@example\.org\n/,
    );
    expect(judge).toThrow(/ -> accepted: < relay-probe @ example.org > \$\| @ relay-probe < @ example.org >\n.* -> accepted: RELAY\n/);
  });

  it('fails when it cannot prove the relay closed: a temporary failure, or no answer at all', () => {
    const temp = '$# error $@ 4 . 3 . 0 $: "451 Temporary system failure. Please try again later."';
    expect(() => judgeRelayProbes(parseRelayProbes(output(temp, 'RELAY', 'RELAY'), probes))).toThrow(
      /^verification failed: cannot prove sendmail is not an open relay: check_rcpt answers 4\.3\.0 "451 Temporary/,
    );
    const none = parseRelayProbes('', probes, 'sh: 1: /usr/sbin/sendmail: not found\n');
    expect(none.map((r) => r.verdict)).toEqual(['unknown', 'unknown', 'unknown']);
    expect(() => judgeRelayProbes(none)).toThrow(
      /cannot prove sendmail is not an open relay: check_rcpt gave no answer for .*\n[\s\S]*sendmail: not found/,
    );
  });

  it('fails a relayFrom entry that does not let its clients relay', () => {
    const denied = '$# error $@ 5 . 7 . 1 $: "550 Relaying denied. IP name lookup failed " [ 192 . 168 . 0 . 1 ]';
    expect(() => judgeRelayProbes(parseRelayProbes(output(DENIED, 'RELAY', denied), probes))).toThrow(
      /^verification failed: relayFrom 192\.168 does not work: sendmail refuses a client at 192\.168\.0\.1 \(without reverse DNS, inside relayFrom 192\.168, sender relay-probe@relay-probe\.example\.net\) relaying to relay-probe@example\.org \(5\.7\.1 "550 Relaying denied\. IP name lookup failed " \[ 192\.168\.0\.1 \]\)/,
    );
  });

  it('calls a relayFrom covering every address what it is', () => {
    expect(() => judgeRelayProbes(parseRelayProbes('', []))).toThrow(/sendmail is an open relay: relayFrom covers every client address/);
  });
});

describe('the classic relay tricks (issue 24, defect 10)', () => {
  it('tries the outsider again with the recipient written four tricky ways, to a name of the host itself', () => {
    const tricks = relayTrickProbes(settings(), { fqdn: 'relay1.example.test' });
    expect(tricks.map((p) => [p.trick, p.recipient])).toEqual([
      ['user%host@relay', 'relay-probe%example.org@relay1.example.test'],
      ['"user@host"@relay', '"relay-probe@example.org"@relay1.example.test'],
      ['host!user', 'example.org!relay-probe'],
      ['@relay:user@host', '@relay1.example.test:relay-probe@example.org'],
    ]);
    // the outsider as relayProbes makes it: outside relayFrom, with a resolving name and a local sender
    for (const p of tricks)
      expect(p).toMatchObject({ inside: false, addr: '198.51.100.7', name: 'relay-probe.example.net', sender: 'root@localhost' });
  });

  // a stand-in sendmail that refuses the plain recipient but lets one written with the %-hack
  // through, as a relay check that reads only the last @ would
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-relay-tricks-'));
  const stub = join(dir, 'sendmail');
  writeFileSync(
    stub,
    [
      '#!/bin/sh',
      'answer=\'$# error $@ 5 . 7 . 1 $: "550 Relaying denied. Proper authentication required."\'',
      // insiders come without reverse DNS (client_resolve FAIL): they are let through
      "while IFS= read -r line; do case \"$line\" in 'check_rcpt <'*'%'*|.D{client_resolve}FAIL) answer=RELAY;; esac; done",
      'printf "check_rcpt       returns: %s\\n> " "$answer"',
    ].join('\n'),
  );
  chmodSync(stub, 0o755);
  // exec as the host gives it, with /usr/sbin/sendmail replaced by the stand-in
  const exec = async (cmd: string) => {
    const script = cmd.replaceAll('/usr/sbin/sendmail', stub);
    const stdout = execFileSync('dash', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { command: cmd, stdout, stderr: '', code: 0 };
  };

  it('fails a relay that refuses the plain outsider but relays user%host@relay for it', async () => {
    const check = checkNotOpenRelay(exec, settings({ relayFrom: [] }), () => {}, { fqdn: 'relay1.example.test' });
    await expect(check).rejects.toThrow(
      /^verification failed: sendmail is an open relay: a client at 198\.51\.100\.7 \(named relay-probe\.example\.net, outside relayFrom, sender root@localhost, recipient written as user%host@relay\) may relay to relay-probe%example\.org@relay1\.example\.test\n/,
    );
  });

  it('says which tricks it tried when every one is refused', () => {
    const probes = [...relayProbes(settings()), ...relayTrickProbes(settings(), { fqdn: 'relay1.example.test' })];
    const answers = probes.map((p) => (p.inside ? 'RELAY' : DENIED));
    const out = probes.map((p, i) => `\n@@probe ${i} ${p.addr}\n${session(answers[i])}`).join('');
    expect(judgeRelayProbes(parseRelayProbes(out, probes))).toBe(
      'not an open relay: sendmail refuses clients outside relayFrom relaying to relay-probe@example.org: 198.51.100.7 (5.7.1 "550 Relaying denied. Proper authentication required."); ' +
        'and written as relay-probe%example.org@relay1.example.test, "relay-probe@example.org"@relay1.example.test, example.org!relay-probe, @relay1.example.test:relay-probe@example.org; ' +
        'lets clients inside relay: 127.0.0.1, 192.168.0.1',
    );
  });
});
