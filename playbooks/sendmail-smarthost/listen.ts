// Where the MTA listens (settings.listen): one DAEMON_OPTIONS per address, and how `ss` shows them.
//
// sendmail does not set IPV6_V6ONLY on its sockets, so on Linux (net.ipv6.bindv6only=0, the default)
// a daemon on `::` is dual-stack: it takes IPv4 connections on every address too (sendmail reports
// them as IPv4 clients, so `Connect:192.168` still matches), `ss` shows it as `*:25`, and any IPv4
// daemon on port 25 next to it fails to bind ("opendaemonsocket: daemon MTA-v6: cannot bind: Address
// already in use", retried, then "server SMTP socket wedged: exiting"). Seen on the sandbox's
// sendmail 8.17.1. Such a host gets the `::` daemon alone; a host with bindv6only=1 gets both.
import { defineFact } from 'mailprov';

export const isV6 = (addr: string) => addr.includes(':');

/** /proc/sys/net/ipv6/bindv6only: true when a `::` socket takes IPv6 only. Absent (no IPv6) reads as 0. */
export const bindV6OnlyFact = defineFact<boolean>({
  name: 'ipv6-bindv6only',
  script: () => 'cat /proc/sys/net/ipv6/bindv6only 2>/dev/null || echo 0',
  parse: (body) => body.trim() === '1',
});

/**
 * One MTA daemon on port 25; an IPv6 address needs Family=inet6, and the wildcard omits Addr.
 * `modifiers`: the daemon's M= flags (`A`: no AUTH offered there, op.me's DaemonPortOptions).
 */
function mtaDaemon(addr: string, modifiers?: string): string {
  const head = isV6(addr) ? 'Family=inet6, Name=MTA-v6, Port=smtp' : 'Family=inet, Name=MTA-v4, Port=smtp';
  const any = addr === '0.0.0.0' || addr === '::';
  return `DAEMON_OPTIONS(\`${head}${any ? '' : `, Addr=${addr}`}${modifiers ? `, M=${modifiers}` : ''}')dnl`;
}

/**
 * The daemons for `listen`: with a dual-stack `::` the IPv4 ones are left out, since it serves them.
 * `modifiers` go on each (see mtaDaemon).
 */
export function mtaDaemons(listen: string[], v6only: boolean, modifiers?: string): string[] {
  const dualStack = listen.includes('::') && !v6only;
  return listen.filter((a) => !(dualStack && !isV6(a))).map((a) => mtaDaemon(a, modifiers));
}

/** An IPv6 address in canonical form (compressed, lower case), as `ss` and `netstat` print it. */
function canonical(addr: string): string {
  if (!isV6(addr)) return addr;
  try {
    return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  } catch {
    return addr;
  }
}

/**
 * Whether the local addresses of `ss -ltn` ([::1]:25, 0.0.0.0:25, *:25) or `netstat -ltn` (::1:25)
 * show a listener for `addr` on port 25. `*:25` is a dual-stack `::`, which takes every IPv4 address.
 */
export function listensOn(addr: string, local: string[]): boolean {
  const a = canonical(addr);
  const forms = isV6(a) ? [`[${a}]:25`, `${a}:25`] : [`${a}:25`];
  if (forms.some((f) => local.includes(f))) return true;
  return local.includes('*:25') && (a === '::' || !isV6(a));
}
