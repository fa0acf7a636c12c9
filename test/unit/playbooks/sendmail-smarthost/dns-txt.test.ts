// TXT lookups through Node's resolver, against a DNS server on loopback that the test starts:
// each way a lookup can end reads as its own answer, never as an exception.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsServersFrom, isDnsServer, resolverTxtLookup, type TxtLookup } from '../../../../playbooks/sendmail-smarthost/dns-txt.ts';
import { closedPort } from '../../../closed-port.ts';
import { type DnsTestServer, startDnsServer } from '../../../dns-server.ts';

let dns: DnsTestServer;
let lookup: TxtLookup;
beforeAll(async () => {
  dns = await startDnsServer({
    'example.org': ['v=spf1 include:amazonses.com ~all', 'google-site-verification=abc'],
    // one record of several strings (each at most 255 bytes), joined with nothing between (RFC 7208 3.3)
    'long.example.org': [['v=spf1 ip4:192.0.2.0/24 ', 'include:_spf.google.com -all']],
    'empty.example.org': [],
    'broken.example.org': 'servfail',
    'closed.example.org': 'refused',
    'slow.example.org': 'drop',
  });
  lookup = resolverTxtLookup({ servers: [dns.address], timeoutMs: 300, tries: 1 });
});
afterAll(() => dns.close());

describe('resolverTxtLookup', () => {
  it('reads every TXT record, the strings of one record joined', async () => {
    expect(await lookup('example.org')).toEqual({
      kind: 'records',
      records: ['v=spf1 include:amazonses.com ~all', 'google-site-verification=abc'],
    });
    expect(await lookup('long.example.org')).toEqual({
      kind: 'records',
      records: ['v=spf1 ip4:192.0.2.0/24 include:_spf.google.com -all'],
    });
    expect(dns.queries).toContain('example.org TXT');
  });

  it('tells a name that does not exist (NXDOMAIN) from one with no TXT record (NODATA)', async () => {
    expect(await lookup('nowhere.example.org')).toEqual({ kind: 'nxdomain' });
    expect(await lookup('empty.example.org')).toEqual({ kind: 'records', records: [] });
  });

  it('names SERVFAIL, REFUSED, a timeout and a server that is not there, each with the server asked', async () => {
    expect(await lookup('broken.example.org')).toEqual({
      kind: 'failed',
      cause: 'servfail',
      message: `${dns.address} answered SERVFAIL for broken.example.org (TXT): the domain's name servers could not be asked, or its DNSSEC does not validate`,
    });
    expect(await lookup('closed.example.org')).toEqual({
      kind: 'failed',
      cause: 'refused',
      message: `${dns.address} refused to answer for closed.example.org (TXT): REFUSED`,
    });
    expect(await lookup('slow.example.org')).toEqual({
      kind: 'failed',
      cause: 'timeout',
      message: expect.stringMatching(
        new RegExp(`^no answer from ${dns.address} for slow\\.example\\.org \\(TXT\\), asked once in 0\\.\\d s$`),
      ),
    });
    const nobody = `127.0.0.1:${await closedPort()}`;
    // nothing listens: on loopback the kernel's port-unreachable comes back at once
    expect(await resolverTxtLookup({ servers: [nobody], timeoutMs: 300, tries: 1 })('example.org')).toEqual({
      kind: 'failed',
      cause: 'unreachable',
      message: `nothing answers DNS at ${nobody} (connection refused)`,
    });
  });
});

describe('which DNS servers', () => {
  it('takes addresses with or without a port, IPv4 and IPv6', () => {
    for (const ok of ['192.0.2.53', '192.0.2.53:5353', '2001:db8::53', '[2001:db8::53]:5353', '::1'])
      expect(isDnsServer(ok), ok).toBe(true);
    for (const bad of ['dns.example.org', '192.0.2.53:99999', '2001:db8::53:5353:x', '[192.0.2.53]:53', '', '192.0.2.53:']) {
      expect(isDnsServer(bad), bad).toBe(false);
    }
  });

  it("the settings' servers, else MAILPROV_DNS_SERVERS, else none (the system's)", () => {
    expect(dnsServersFrom(['192.0.2.53'], { MAILPROV_DNS_SERVERS: '127.0.0.1:5353' })).toEqual(['192.0.2.53']);
    expect(dnsServersFrom(undefined, { MAILPROV_DNS_SERVERS: '127.0.0.1:5353, [::1]:53' })).toEqual(['127.0.0.1:5353', '[::1]:53']);
    expect(dnsServersFrom(undefined, {})).toBeUndefined();
    expect(dnsServersFrom(undefined, { MAILPROV_DNS_SERVERS: ' ' })).toBeUndefined();
    expect(() => dnsServersFrom(undefined, { MAILPROV_DNS_SERVERS: '127.0.0.1:5353,dns.example.org' })).toThrow(
      'MAILPROV_DNS_SERVERS: "dns.example.org" is no DNS server address (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:5353)',
    );
  });
});
