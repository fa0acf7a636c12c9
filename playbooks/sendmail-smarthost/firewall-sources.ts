// Who the firewall lets reach port 25: the networks relayFrom names, as firewall sources. relayFrom
// is in access-map syntax (SENDMAIL.md): octet prefixes (192.168 -> 192.168.0.0/16, 10.0.0.5 ->
// 10.0.0.5/32) and IPv6: prefixes of whole groups (IPv6:2001:db8 -> 2001:db8::/32). A host name has
// no address a firewall can match: it is named, and the lint refuses it unless the port is open to
// everyone.
import type { PortOpening } from 'mailprov';

export interface RelaySources {
  ipv4: string[];
  ipv6: string[];
  /** Entries with no source network (host names, IPv6 prefixes with `::`). */
  underived: string[];
}

export function relaySources(relayFrom: string[]): RelaySources {
  const out: RelaySources = { ipv4: [], ipv6: [], underived: [] };
  for (const entry of relayFrom) {
    if (/^[0-9]{1,3}(\.[0-9]{1,3}){0,3}$/.test(entry)) {
      const octets = entry.split('.').map(Number);
      if (octets.some((o) => o > 255)) {
        out.underived.push(entry);
        continue;
      }
      const bits = octets.length * 8;
      out.ipv4.push(`${[...octets, 0, 0, 0].slice(0, 4).join('.')}/${bits}`);
      continue;
    }
    const v6 = /^IPv6:(.*)$/i.exec(entry);
    if (v6 && /^[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){0,7}$/.test(v6[1])) {
      const groups = v6[1].split(':');
      out.ipv6.push(
        `${groups.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}${groups.length < 8 ? '::' : ''}/${groups.length * 16}`,
      );
      continue;
    }
    out.underived.push(entry);
  }
  return out;
}

/** The port opening the firewall resource is told: everyone, or relayFrom's networks. */
export function smtpOpening(relayFrom: string[], to: 'relayFrom' | 'everyone'): PortOpening {
  if (to === 'everyone' || !relayFrom.length) return { proto: 'tcp', port: 25, sources: 'everyone' };
  const { ipv4, ipv6 } = relaySources(relayFrom);
  return { proto: 'tcp', port: 25, sources: { ipv4, ipv6 } };
}
