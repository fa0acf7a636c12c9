// What is the same for many hosts is said once, with the list of hosts: an inventory's warnings, and
// a playbook finding (a lint warning) that every host bound to the playbook reports alike.
import type { HostResult } from '../engine/events.ts';
import type { InventoryWarning } from '../inventory/ansible.ts';
import type { Finding } from '../playbook/index.ts';

/** relay1, relay2 and relay3; past `max` names, the count of the rest. */
export function listHosts(hosts: readonly string[], max = 10): string {
  if (hosts.length > max) return `${hosts.slice(0, max).join(', ')} and ${hosts.length - max} more`;
  if (hosts.length < 2) return hosts.join('');
  return `${hosts.slice(0, -1).join(', ')} and ${hosts[hosts.length - 1]}`;
}

export function renderInventoryWarnings(warnings: readonly InventoryWarning[]): string {
  return warnings
    .map((w) => {
      const which = [
        ...(w.hosts?.length ? [`${hostCount(w.hosts)}: ${listHosts(w.hosts)}`] : []),
        ...(w.jumpHosts?.length ? [`jump host${w.jumpHosts.length === 1 ? '' : 's'} ${listHosts(w.jumpHosts)}`] : []),
      ];
      return `mailprov: warning: ${w.file}: ${w.message}${which.length ? ` (${which.join('; ')})` : ''}\n`;
    })
    .join('');
}

const hostCount = (hosts: readonly string[]) => `${hosts.length} host${hosts.length === 1 ? '' : 's'}`;

export interface SharedFinding {
  finding: Finding;
  hosts: string[];
}

/** The findings of every host, each distinct one once with the hosts that reported it, in first-seen order. */
export function groupFindings(results: readonly Pick<HostResult, 'host' | 'findings'>[]): SharedFinding[] {
  const groups = new Map<string, SharedFinding>();
  for (const r of results) {
    for (const f of r.findings) {
      const key = JSON.stringify([f.level, f.code, f.message, f.line ?? null]);
      const group = groups.get(key) ?? { finding: f, hosts: [] };
      if (!group.hosts.includes(r.host)) group.hosts.push(r.host);
      groups.set(key, group);
    }
  }
  return [...groups.values()];
}
