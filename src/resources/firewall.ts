// firewallRule: one iptables rule in the filter table, present once, inserted before the first
// REJECT/DROP of its chain (so it is reached), and persisted so it survives a reboot. The rule
// mailprov inserts carries a comment match ("mailprov"), so that undoing it deletes exactly that
// rule and never an identical one a person added by hand. Where firewalld runs, a service instead.
import { z } from 'zod';
import { fileFact, iptablesFact } from '../facts/builtin.ts';
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Resource, Step, UndoHandler } from './types.ts';

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

export const RULE_COMMENT = 'mailprov';

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

/** A rule spec is matches then `-j TARGET ...`; no chain command, no comment of its own. */
export function assertRuleSpec(rule: string): void {
  const spec = norm(rule);
  if (/^-[AIDRC]\s/.test(spec)) throw new OperationError(`firewall rule must not include the chain command: ${rule}`);
  if (!/(^| )-j \S+/.test(spec)) throw new OperationError(`firewall rule needs a target (-j ACCEPT, ...): ${rule}`);
  if (/--comment\b/.test(spec))
    throw new OperationError(`firewall rule must not carry a comment (mailprov marks its rules itself): ${rule}`);
}

/** The spec as mailprov inserts it: the comment match goes before the target, as `iptables -S` prints it. */
export function markedSpec(spec: string): string {
  const at = norm(spec).search(/(^| )-j /);
  const matches = norm(spec).slice(0, at).trim();
  const target = norm(spec).slice(at).trim();
  return norm(`${matches} -m comment --comment ${RULE_COMMENT} ${target}`);
}

export function firewallRule(opts: FirewallRuleOptions): Resource {
  assertRuleSpec(opts.rule);
  const chain = opts.chain ?? 'INPUT';
  const spec = norm(opts.rule);
  const id = `firewall:${chain} ${spec}`;
  const files = ['/etc/iptables/rules.v4', '/etc/sysconfig/iptables'];
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    facts: () => [iptablesFact.query(), ...(opts.persistFile ? [opts.persistFile] : files).map((path) => fileFact.query(path))],
    plan(facts): Change | NoChange {
      const iptables = facts.get(iptablesFact, undefined);
      if (iptables.firewalld && opts.firewalldService) return planFirewalld(id, opts.firewalldService, iptables.firewalld);
      if (!iptables.available) throw new OperationError(`iptables is not available on this host (needed for rule -A ${chain} ${spec})`);
      const persistFile = opts.persistFile ?? defaultPersistFile(facts);
      // ours, or the same rule added by hand: either way the port is open
      const lines = [`-A ${chain} ${markedSpec(spec)}`, `-A ${chain} ${spec}`];
      const has = (text: string[]) => text.map(norm).some((l) => lines.includes(l));
      const live = has(iptables.rules);
      const saved = facts.get(fileFact, persistFile);
      const persisted = saved.exists && has((saved.content ?? '').split('\n'));
      if (live && persisted) return { resourceId: id, reason: `rule present and saved in ${persistFile}` };
      const steps: Step[] = [];
      if (!live) steps.push(insertStep(chain, spec, insertPosition(iptables.rules, chain)));
      // iptables-save writes every live rule, which is what the boot-time restore should load.
      steps.push({ label: `save rules to ${persistFile}`, command: saveCommand(persistFile) });
      return {
        resourceId: id,
        action: live ? 'persist-rule' : 'add-rule',
        summary: live ? `save iptables rules to ${persistFile}` : `add iptables rule -A ${chain} ${spec}`,
        reason: live ? `rule is live but not saved in ${persistFile}` : 'rule not present',
        steps,
        // the saved rules are copied aside, but undone by deleting our rule and saving again:
        // putting the old file back would drop rules saved since
        files: [{ path: persistFile, keepOnUndo: true }],
        undo: live ? [] : [{ kind: 'iptables-rule', chain, rule: spec, added: true, persistFile }],
        confirm: !live,
      };
    },
  };
}

function insertStep(chain: string, spec: string, pos: number | undefined): Step {
  const args = markedSpec(spec).split(' ');
  return {
    label: `iptables ${pos ? `-I ${chain} ${pos}` : `-A ${chain}`} ${spec}`,
    command: pos ? sh`iptables -w -I ${chain} ${String(pos)} ${args}` : sh`iptables -w -A ${chain} ${args}`,
  };
}

export function saveCommand(persistFile: string): string {
  const dir = persistFile.replace(/\/[^/]*$/, '');
  return sh`mkdir -p ${dir} && iptables-save > ${`${persistFile}.mailprov-tmp`} && mv -f ${`${persistFile}.mailprov-tmp`} ${persistFile}`;
}

/** firewalld: the service allowed at runtime and permanently (`--permanent` then `--reload`). */
function planFirewalld(id: string, svc: string, fwd: { runtime: string[]; permanent: string[] }): Change | NoChange {
  if (fwd.runtime.includes(svc) && fwd.permanent.includes(svc)) return { resourceId: id, reason: `firewalld allows ${svc}` };
  return {
    resourceId: id,
    action: 'add-service',
    summary: `allow ${svc} in firewalld`,
    reason: fwd.permanent.includes(svc) ? `${svc} allowed permanently but not at runtime` : `firewalld does not allow ${svc}`,
    steps: [firewalldStep(svc, 'add')],
    undo: fwd.permanent.includes(svc) ? [] : [{ kind: 'firewalld-service', service: svc, added: true }],
    confirm: true,
  };
}

function firewalldStep(svc: string, verb: 'add' | 'remove'): Step {
  const command =
    verb === 'add'
      ? sh`firewall-cmd --permanent --add-service=${svc} && firewall-cmd --reload`
      : sh`firewall-cmd --permanent --remove-service=${svc} && firewall-cmd --reload`;
  return { label: `firewall-cmd --permanent --${verb}-service=${svc} && firewall-cmd --reload`, command };
}

const ruleRecord = z.object({
  kind: z.literal('iptables-rule'),
  chain: z.string().regex(/^[A-Za-z0-9_-]+$/),
  rule: z.string().min(1),
  added: z.boolean(),
  persistFile: z
    .string()
    .regex(/^\/[^\0\n]*$/)
    .optional(),
  /** Records of mailprov before rules were marked name an unmarked rule. */
  marked: z.boolean().default(true),
});
type RuleRecord = z.infer<typeof ruleRecord>;

/** Deletes exactly the rule mailprov marked (put back, marked, where a rollback took it out), then saves. */
export const iptablesRuleUndo: UndoHandler<RuleRecord> = {
  kind: 'iptables-rule',
  parse: (record) => parseRecord(ruleRecord, record),
  steps(r) {
    const args = (r.marked ? markedSpec(r.rule) : norm(r.rule)).split(' ');
    const change: Step = r.added
      ? {
          label: `iptables -D ${r.chain} ${r.rule} (the rule mailprov added)`,
          command: sh`if iptables -w -C ${r.chain} ${args} 2>/dev/null; then iptables -w -D ${r.chain} ${args}; fi`,
        }
      : {
          label: `iptables: put back ${r.chain} ${r.rule}`,
          // placed as the resource places it: before the chain's first REJECT/DROP, else last
          command: [
            sh`if ! iptables -w -C ${r.chain} ${args} 2>/dev/null; then`,
            sh`  pos=$(iptables -w -S ${r.chain} | grep -- '^-A' | grep -n -m1 -E -- '-j (REJECT|DROP)' | cut -d: -f1)`,
            sh`  if [ -n "$pos" ]; then iptables -w -I ${r.chain} "$pos" ${args}; else iptables -w -A ${r.chain} ${args}; fi`,
            'fi',
          ].join('\n'),
        };
    return r.persistFile ? [change, { label: `save rules to ${r.persistFile}`, command: saveCommand(r.persistFile) }] : [change];
  },
  inverse: (r) => ({ ...r, added: !r.added }),
  describe: (r) => `${r.added ? '-' : '+'} iptables rule -A ${r.chain} ${r.rule}`,
};

const serviceRecord = z.object({
  kind: z.literal('firewalld-service'),
  service: z.string().regex(/^[A-Za-z0-9._-]+$/),
  added: z.boolean().default(true),
});
type FirewalldRecord = z.infer<typeof serviceRecord>;

export const firewalldServiceUndo: UndoHandler<FirewalldRecord> = {
  kind: 'firewalld-service',
  parse: (record) => parseRecord(serviceRecord, record),
  steps: (r) => [firewalldStep(r.service, r.added ? 'remove' : 'add')],
  inverse: (r) => ({ ...r, added: !r.added }),
  describe: (r) => `${r.added ? '-' : '+'} firewalld service ${r.service}`,
};
