// FEATUREs that widen who may relay through sendmail (cf/README, "ANTI-SPAM CONFIGURATION CONTROL",
// and the features' own m4 files, several of which warn that they "may cause your system to act as
// open relay"). Each lets mail through by something the post-apply check cannot stand for with one
// client and one recipient: the sender's address, the recipient's MX, the whole local domain, the
// %-hack. They are refused unless allowRelayFeatures names each one: an open relay is not a matter
// of taste, so `force` does not lift this either. relay_hosts_only narrows relaying and is fine;
// accept_unresolvable_domains and accept_unqualified_senders loosen sender checks, not relaying.
import type { Finding } from 'mailprov';

/** Name -> what it lets through. */
export const RELAY_WIDENING_FEATURES = {
  promiscuous_relay: 'it lets every client relay to anywhere (an open relay)',
  relay_entire_domain: 'it lets every host of the local domain (class m) relay, by its name alone',
  relay_based_on_MX: 'it relays mail for any domain whose MX points at this host, which whoever runs that DNS decides',
  relay_local_from: 'it relays whenever the envelope sender is a local address, which any client can write',
  relay_mail_from: 'it relays for envelope senders marked RELAY in the access map, which any client can write',
  loose_relay_check: 'it stops checking user%host@relay (the %-hack) for relaying when relay is a relay domain',
} as const;

export type RelayWideningFeature = keyof typeof RELAY_WIDENING_FEATURES;
export const RELAY_WIDENING_NAMES = Object.keys(RELAY_WIDENING_FEATURES) as RelayWideningFeature[];

const isWidening = (name: string): name is RelayWideningFeature => Object.hasOwn(RELAY_WIDENING_FEATURES, name);

/** FEATURE(`name' ...) calls in an mc's text, leaving out lines that are comments (dnl or #); m4 has the last word. */
export function mcFeatures(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => !/^\s*(dnl\b|#)/.test(l))
    .flatMap((l) => [...l.matchAll(/FEATURE\(\s*`?([A-Za-z_][A-Za-z0-9_]*)'?/g)].map((m) => m[1]));
}

/**
 * Relay-widening FEATUREs in `features` and in the user's own mc text, each an error unless
 * allowRelayFeatures names it (then a warning, so the plan still says it).
 */
export function lintRelayFeatures(
  settings: { features: { name: string }[]; allowRelayFeatures: readonly string[] },
  mcText?: string,
): Finding[] {
  const used = [
    ...settings.features.map(({ name }, i) => ({ name, where: `features[${i}]` })),
    ...(mcText === undefined ? [] : mcFeatures(mcText).map((name) => ({ name, where: 'the mc' }))),
  ];
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const { name, where } of used) {
    if (!isWidening(name) || seen.has(`${where}:${name}`)) continue;
    seen.add(`${where}:${name}`);
    const why = RELAY_WIDENING_FEATURES[name];
    findings.push(
      settings.allowRelayFeatures.includes(name)
        ? {
            level: 'warning',
            code: 'relay-widening-feature',
            message: `${where}: FEATURE(${name}) widens relaying: ${why} (allowed by allowRelayFeatures)`,
          }
        : {
            level: 'error',
            code: 'relay-widening-feature',
            message: `${where}: FEATURE(${name}) widens relaying: ${why}; the open-relay check cannot prove such a relay closed. If it is meant, name it in allowRelayFeatures: ['${name}']`,
          },
    );
  }
  return findings;
}
