// Sender rewriting (masquerade, genericsTable) checked before connecting: settings that would not do
// what they say. What sendmail makes of a sender after apply is checked in sender.ts.
import type { Finding } from 'mailprov';
import type { SendmailSettings } from './settings.ts';

/** The values sender rewriting writes into the mc, with the field each comes from. */
export function senderValues(settings: SendmailSettings): [string, string][] {
  const m = settings.masquerade;
  return [
    ...(m
      ? [
          ['masquerade.as', m.as] as [string, string],
          ...m.domains.map((d, i): [string, string] => [`masquerade.domains[${i}]`, d]),
          ...m.exceptions.map((d, i): [string, string] => [`masquerade.exceptions[${i}]`, d]),
        ]
      : []),
    ...(settings.genericsDomains ?? []).map((d, i): [string, string] => [`genericsDomains[${i}]`, d]),
  ];
}

/** Sender rewriting that would not do what it says. */
export function lintSender(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  if (settings.mc) {
    const ignored = [
      settings.masquerade && 'masquerade',
      settings.genericsDomains && 'genericsDomains',
      Object.keys(settings.defines).length > 0 && 'defines',
      settings.features.length > 0 && 'features',
    ].filter((k): k is string => typeof k === 'string');
    if (ignored.length) {
      findings.push({
        level: 'error',
        code: 'ignored-with-own-mc',
        message: `${ignored.join(', ')} shape the generated mc, and mc replaces it: put them into your own mc instead`,
      });
    }
  }
  if (settings.genericsTable && settings.masquerade && !settings.masquerade.envelope) {
    findings.push({
      level: 'warning',
      code: 'generics-envelope-off',
      message:
        'masquerade.envelope is false, so the genericsTable rewrites header senders only: FEATURE(masquerade_envelope) governs both, and the smart host sees the original envelope sender',
    });
  }
  return findings;
}

/** Once the host's FQDN is known: a genericsDomains that leaves the host out rewrites nothing it sends. */
export function lintGenericsDomains(settings: SendmailSettings, hostFqdn: string | undefined): Finding[] {
  const fqdn = hostFqdn?.toLowerCase();
  if (!settings.genericsTable || !settings.genericsDomains || !fqdn || settings.genericsDomains.some((d) => d.toLowerCase() === fqdn)) {
    return [];
  }
  return [
    {
      level: 'warning',
      code: 'generics-domain-misses-host',
      message: `genericsDomains (${settings.genericsDomains.join(', ')}) leaves out ${hostFqdn}: mail submitted on this host is addressed from user@${hostFqdn}, which the genericsTable then does not rewrite`,
    },
  ];
}
