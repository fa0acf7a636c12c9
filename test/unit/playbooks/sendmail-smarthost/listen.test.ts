// Where the MTA listens: the daemons per address family, and what `ss`/`netstat` show for each.
import { describe, expect, it } from 'vitest';
import { bindV6OnlyFact, listensOn, mtaDaemons } from '../../../../playbooks/sendmail-smarthost/listen.ts';

describe('mtaDaemons', () => {
  it('renders one daemon per address, Family=inet6 for IPv6, no Addr for a wildcard', () => {
    expect(mtaDaemons(['0.0.0.0', '::1'], false)).toEqual([
      "DAEMON_OPTIONS(`Family=inet, Name=MTA-v4, Port=smtp')dnl",
      "DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=smtp, Addr=::1')dnl",
    ]);
  });

  it('leaves IPv4 to a dual-stack ::, and keeps it where :: is IPv6 only', () => {
    expect(mtaDaemons(['0.0.0.0', '::'], false)).toEqual(["DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=smtp')dnl"]);
    expect(mtaDaemons(['0.0.0.0', '::'], true)).toHaveLength(2);
    expect(mtaDaemons(['::'], false)).toEqual(["DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=smtp')dnl"]);
  });
});

describe('listensOn', () => {
  // `ss -ltnH` column 4 on a host with 127.0.0.1, ::1 and fd00::25, and on one with a dual-stack ::
  const specific = ['127.0.0.1:25', '[::1]:25', '[fd00::25]:25', '0.0.0.0:22', '[::]:22'];
  const dual = ['*:25', '127.0.0.1:587'];

  it('finds IPv4 and IPv6 listeners as ss writes them, whatever case or zeros the setting has', () => {
    for (const a of ['127.0.0.1', '::1', 'fd00::25', 'FD00:0:0::25']) expect(listensOn(a, specific)).toBe(true);
    for (const a of ['0.0.0.0', '::', 'fd00::26', '192.0.2.10']) expect(listensOn(a, specific)).toBe(false);
  });

  it('takes *:25 (a dual-stack ::) for :: and for every IPv4 address, not for another IPv6 one', () => {
    for (const a of ['::', '0.0.0.0', '127.0.0.1']) expect(listensOn(a, dual)).toBe(true);
    expect(listensOn('::1', dual)).toBe(false);
    expect(listensOn('::', ['[::]:25'])).toBe(true);
  });

  it("reads netstat's form too", () => {
    expect(listensOn('::1', ['::1:25'])).toBe(true);
    expect(listensOn('::', [':::25'])).toBe(true);
  });
});

describe('bindV6OnlyFact', () => {
  it('reads /proc/sys/net/ipv6/bindv6only, 0 when absent', () => {
    expect(bindV6OnlyFact.script(undefined)).toBe('cat /proc/sys/net/ipv6/bindv6only 2>/dev/null || echo 0');
    expect([bindV6OnlyFact.parse('1\n', undefined), bindV6OnlyFact.parse('0\n', undefined)]).toEqual([true, false]);
  });
});
