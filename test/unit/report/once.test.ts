// What every host says alike is said once, with the hosts: a playbook's lint warning, an inventory's warnings.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/engine/events.ts';
import type { Finding } from '../../../src/playbook/index.ts';
import { ConsoleReporter, groupFindings, listHosts, renderInventoryWarnings } from '../../../src/report/index.ts';

const tls: Finding = { level: 'warning', code: 'smart-host-tls-unverified', message: "smartHostTls 'encrypt': no certificate check" };
const port: Finding = { level: 'warning', code: 'smtp-port-loopback', message: 'port 25 opened while listening on loopback only' };

function result(host: string, findings: Finding[]): HostResult {
  return { host, address: `${host}:22`, status: 'unchanged', changes: [], applied: 0, findings, durationMs: 10 };
}

describe('said once', () => {
  it('lists hosts in a sentence, and only the first ones of many', () => {
    expect(listHosts(['relay1'])).toBe('relay1');
    expect(listHosts(['relay1', 'relay2', 'relay3'])).toBe('relay1, relay2 and relay3');
    expect(
      listHosts(
        Array.from({ length: 14 }, (_, i) => `r${i + 1}`),
        3,
      ),
    ).toBe('r1, r2, r3 and 11 more');
  });

  it('groups identical findings of several hosts, in the order first seen', () => {
    const results = [result('relay1', [tls]), result('relay2', [tls, port]), result('relay3', [{ ...tls }])];
    expect(groupFindings(results)).toEqual([
      { finding: tls, hosts: ['relay1', 'relay2', 'relay3'] },
      { finding: port, hosts: ['relay2'] },
    ]);
  });

  it('the console prints a lint warning every host has once, with the hosts, not once per host', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const reporter = new ConsoleReporter({ out: out as unknown as NodeJS.WriteStream, live: false, color: false });
    const results = ['relay1', 'relay2', 'relay3'].map((h) => result(h, [tls]));
    for (const r of results) reporter.onEvent({ kind: 'host-finding', host: r.host, finding: tls });
    expect(text).toBe('');
    reporter.printFindings(results);
    expect(text).toBe(`\nrelay1, relay2 and relay3: warning [smart-host-tls-unverified] smartHostTls 'encrypt': no certificate check\n`);
  });

  it('renders inventory warnings with their file and hosts', () => {
    expect(
      renderInventoryWarnings([
        { file: '/inv/hosts', message: 'something ignored', hosts: ['a', 'b'] },
        { file: '/inv/x.ts', message: 'plain' },
      ]),
    ).toBe('mailprov: warning: /inv/hosts: something ignored (2 hosts: a and b)\nmailprov: warning: /inv/x.ts: plain\n');
  });
});
