// The relayFrom setting's checks: each entry becomes `Connect:<entry> RELAY` in the access map, so
// it must be a network sendmail can match and, unless said on purpose, a private one. What an entry
// means (parseRelayNet, isPrivateNet) lives in open-relay.ts, beside the check after apply.
import type { Finding } from 'mailprov';
import { isPrivateNet, parseRelayNet, type RelayNet } from './open-relay.ts';
import type { SendmailSettings } from './settings.ts';

const isIpv6Loopback = (groups: number[]) => groups.join(':') === '0:0:0:0:0:0:0:1';

function publicReason(net: RelayNet): string {
  if (net.kind === 'ipv4') return 'reaches beyond the private ranges (10, 172.16 to 172.31, 192.168, 127, 169.254)';
  if (net.kind === 'ipv6') return 'reaches beyond the private ranges (fc00::/7, fe80::/10, ::1)';
  // a name is as private as whoever can publish reverse DNS under it: nothing the lint can check
  return 'is a domain: every client whose reverse DNS (forward-confirmed) is under it may relay, wherever it is';
}

/**
 * relayFrom becomes `Connect:<entry> RELAY`: an entry sendmail cannot match is an error, and so is
 * one that lets clients outside the private ranges relay, unless allowPublicRelayFrom says it is meant.
 */
export function lintRelayFrom(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  for (const [i, entry] of settings.relayFrom.entries()) {
    if (/[\x00-\x1f\x7f]/.test(entry)) continue; // reported as line-break-in-value
    const field = `relayFrom[${i}] ${JSON.stringify(entry)}`;
    const net = parseRelayNet(entry);
    if ('error' in net) {
      findings.push({ level: 'error', code: 'relay-from-invalid', message: `${field} is not a network sendmail can match: ${net.error}` });
      continue;
    }
    if (!isPrivateNet(net)) {
      findings.push(
        settings.allowPublicRelayFrom
          ? { level: 'warning', code: 'relay-from-public', message: `${field} ${publicReason(net)} (allowed by allowPublicRelayFrom)` }
          : {
              level: 'error',
              code: 'relay-from-public',
              message: `${field} ${publicReason(net)}: clients there could relay through this host to anywhere (set allowPublicRelayFrom: true if that is meant)`,
            },
      );
    }
    if (net.kind === 'ipv4' && net.octets.length === 4 && net.octets[3] === 0) {
      const network = net.octets.slice(0, 3).join('.');
      findings.push({
        level: 'warning',
        code: 'relay-from-single-address',
        message: `${field} is the one address ${entry}, not a network: write ${network} for ${network}.0/24`,
      });
    }
    // ::1 relays whichever way it is written (Relay_ok knows both forms)
    if (net.kind === 'ipv6' && entry.includes('::') && !isIpv6Loopback(net.groups)) {
      findings.push({
        level: 'warning',
        code: 'relay-from-ipv6-compressed',
        message: `${field} matches as text, and a sendmail built with IPV6_FULL (8.15 and later, Debian 12's 8.17 among them) writes client addresses in full, without "::": write the address in full (verification tries it)`,
      });
    }
  }
  return findings;
}
