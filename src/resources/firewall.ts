// firewallRule: one iptables rule in the filter table, present once, inserted before the first
// REJECT/DROP of its chain (so it is reached), and persisted so it survives a reboot.
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import type { Change, NoChange, Resource } from './types.ts';

export interface FirewallRuleOptions {
  chain?: string;
  /** The rule's match and target in `iptables -S` form, e.g. "-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT". */
  rule: string;
  /** Where the rules are saved; default by distro (/etc/iptables/rules.v4 or /etc/sysconfig/iptables). */
  persistFile?: string;
  /** Where firewalld runs (RHEL 7+), allow this firewalld service instead, e.g. "smtp". */
  firewalldService?: string;
  notify?: string[];
}

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');

export function defaultPersistFile(facts: HostFacts): string {
  return facts.os.family === 'rhel' ? '/etc/sysconfig/iptables' : '/etc/iptables/rules.v4';
}

/** 1-based position of the first rule that ends the chain's evaluation (REJECT/DROP), if any. */
export function insertPosition(rules: string[], chain: string): number | undefined {
  const inChain = rules.filter((r) => r.startsWith(`-A ${chain} `));
  const idx = inChain.findIndex((r) => /-j (REJECT|DROP)\b/.test(r));
  return idx === -1 ? undefined : idx + 1;
}

export function firewallRule(opts: FirewallRuleOptions): Resource {
  const chain = opts.chain ?? 'INPUT';
  const spec = norm(opts.rule);
  const line = `-A ${chain} ${spec}`;
  const id = `firewall:${chain} ${spec}`;
  const files = ['/etc/iptables/rules.v4', '/etc/sysconfig/iptables'];
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    facts: () => [{ kind: 'iptables' }, ...(opts.persistFile ? [opts.persistFile] : files).map((path) => ({ kind: 'file' as const, path }))],
    plan(facts): Change | NoChange {
      const fwd = facts.iptables.firewalld;
      if (fwd && opts.firewalldService) return planFirewalld(id, opts.firewalldService, fwd);
      if (!facts.iptables.available) {
        throw new OperationError(`iptables is not available on this host (needed for rule ${line})`);
      }
      const persistFile = opts.persistFile ?? defaultPersistFile(facts);
      const live = facts.iptables.rules.map(norm).includes(line);
      const saved = facts.files.get(persistFile);
      const persisted = saved?.exists === true && (saved.content ?? '').split('\n').map(norm).includes(line);
      if (live && persisted) return { resourceId: id, reason: `rule present and saved in ${persistFile}` };
      const steps = [];
      if (!live) {
        const pos = insertPosition(facts.iptables.rules, chain);
        const args = spec.split(' ');
        steps.push({
          label: `iptables ${pos ? `-I ${chain} ${pos}` : `-A ${chain}`} ${spec}`,
          command: pos ? sh`iptables -w -I ${chain} ${String(pos)} ${args}` : sh`iptables -w -A ${chain} ${args}`,
        });
      }
      // iptables-save writes every live rule, which is what the boot-time restore should load.
      steps.push({ label: `save rules to ${persistFile}`, command: saveCommand(persistFile) });
      return {
        resourceId: id,
        action: live ? 'persist-rule' : 'add-rule',
        summary: live ? `save iptables rules to ${persistFile}` : `add iptables rule ${line}`,
        reason: live ? `rule is live but not saved in ${persistFile}` : 'rule not present',
        steps,
        undo: live ? [] : [{ kind: 'iptables-rule', chain, rule: spec, persistFile }],
      };
    },
  };
}

export function saveCommand(persistFile: string): string {
  const dir = persistFile.replace(/\/[^/]*$/, '');
  return sh`mkdir -p ${dir} && iptables-save > ${`${persistFile}.mailprov-tmp`} && mv -f ${`${persistFile}.mailprov-tmp`} ${persistFile}`;
}

export function assertRuleSpec(rule: string): void {
  if (/^-[AIDR]\s/.test(norm(rule))) throw new OperationError(`firewall rule must not include the chain command: ${rule}`);
}

/** firewalld: the service allowed at runtime and permanently (`--permanent` then `--reload`). */
function planFirewalld(id: string, svc: string, fwd: { runtime: string[]; permanent: string[] }): Change | NoChange {
  if (fwd.runtime.includes(svc) && fwd.permanent.includes(svc)) return { resourceId: id, reason: `firewalld allows ${svc}` };
  return {
    resourceId: id,
    action: 'add-service',
    summary: `allow ${svc} in firewalld`,
    reason: fwd.permanent.includes(svc) ? `${svc} allowed permanently but not at runtime` : `firewalld does not allow ${svc}`,
    steps: [{ label: `firewall-cmd --permanent --add-service=${svc} && firewall-cmd --reload`, command: sh`firewall-cmd --permanent --add-service=${svc} && firewall-cmd --reload` }],
    undo: fwd.permanent.includes(svc) ? [] : [{ kind: 'firewalld-service', service: svc }],
  };
}
