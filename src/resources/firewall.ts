// firewallRule: one iptables (or ip6tables) rule in the filter table, present once, inserted before
// the first REJECT/DROP of its chain (so it is reached), and persisted so it survives a reboot. The
// rule mailprov inserts carries a comment match ("mailprov"), so that undoing it deletes exactly that
// rule and never an identical one a person added by hand. Where firewalld runs, a service instead.
import { z } from 'zod';
import { fileFact, ip6tablesFact, iptablesFact } from '../facts/builtin.ts';
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Resource, Step, UndoHandler } from './types.ts';

export type Family = 'ipv4' | 'ipv6';

export interface FirewallRuleOptions {
  /** 'ipv6': the rule goes into ip6tables, a table of its own with a saved file of its own. Default 'ipv4'. */
  family?: Family;
  chain?: string;
  /** The rule's match and target in `iptables -S` form, e.g. "-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT". */
  rule: string;
  /** Where the rules are saved; default by distro and family (/etc/iptables/rules.v4 or .v6, /etc/sysconfig/iptables or ip6tables). */
  persistFile?: string;
  /** Where firewalld runs (RHEL 7+), allow this firewalld service instead, e.g. "smtp" (a service covers both families). */
  firewalldService?: string;
  notify?: string[];
}

export const RULE_COMMENT = 'mailprov';

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');

/** What differs between the families: the command (its -save is `${cmd}-save`), its fact, where each distro saves it. */
const FAMILIES = {
  ipv4: { cmd: 'iptables', fact: iptablesFact, debian: '/etc/iptables/rules.v4', rhel: '/etc/sysconfig/iptables' },
  ipv6: { cmd: 'ip6tables', fact: ip6tablesFact, debian: '/etc/iptables/rules.v6', rhel: '/etc/sysconfig/ip6tables' },
} as const;

/** netfilter-persistent (Debian) and iptables-services (RHEL) each restore one file per family at boot. */
export function defaultPersistFile(facts: HostFacts, family: Family = 'ipv4'): string {
  return facts.os.family === 'rhel' ? FAMILIES[family].rhel : FAMILIES[family].debian;
}

/** IPv4 rules keep the id they always had; an IPv6 rule with the same spec is another resource. */
export function firewallRuleId(chain: string, rule: string, family: Family = 'ipv4'): string {
  return `${family === 'ipv6' ? 'firewall6' : 'firewall'}:${chain} ${norm(rule)}`;
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
  const family = opts.family ?? 'ipv4';
  const { cmd, fact, debian, rhel } = FAMILIES[family];
  const chain = opts.chain ?? 'INPUT';
  const spec = norm(opts.rule);
  const id = firewallRuleId(chain, spec, family);
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    // firewalld is read with the IPv4 rules, whichever the family
    facts: () => [
      iptablesFact.query(),
      fact.query(),
      ...(opts.persistFile ? [opts.persistFile] : [debian, rhel]).map((path) => fileFact.query(path)),
    ],
    plan(facts, ctx): Change | NoChange {
      const iptables = facts.get(fact, undefined);
      const firewalld = facts.get(iptablesFact, undefined).firewalld;
      const svc = opts.firewalldService;
      if (firewalld && svc) {
        // one firewalld service opens both families: when the IPv4 twin allows it, that is done
        const twin = firewallRuleId(chain, spec, 'ipv4');
        if (family === 'ipv6' && ctx.changed.has(twin))
          return { resourceId: id, reason: `firewalld's ${svc} service covers IPv6 too (${twin})` };
        return planFirewalld(id, svc, firewalld);
      }
      if (!iptables.available) throw new OperationError(`${cmd} is not available on this host (needed for rule -A ${chain} ${spec})`);
      const persistFile = opts.persistFile ?? defaultPersistFile(facts, family);
      // ours, or the same rule added by hand: either way the port is open
      const lines = [`-A ${chain} ${markedSpec(spec)}`, `-A ${chain} ${spec}`];
      const has = (text: string[]) => text.map(norm).some((l) => lines.includes(l));
      const live = has(iptables.rules);
      const saved = facts.get(fileFact, persistFile);
      const persisted = saved.exists && has((saved.content ?? '').split('\n'));
      if (live && persisted) return { resourceId: id, reason: `rule present and saved in ${persistFile}` };
      const steps: Step[] = [];
      if (!live) steps.push(insertStep(family, chain, spec, insertPosition(iptables.rules, chain)));
      // iptables-save writes every live rule, which is what the boot-time restore should load.
      steps.push({ label: `save rules to ${persistFile}`, command: saveCommand(persistFile, family) });
      return {
        resourceId: id,
        action: live ? 'persist-rule' : 'add-rule',
        summary: live ? `save ${cmd} rules to ${persistFile}` : `add ${cmd} rule -A ${chain} ${spec}`,
        reason: live ? `rule is live but not saved in ${persistFile}` : 'rule not present',
        steps,
        // the saved rules are copied aside, but undone by deleting our rule and saving again:
        // putting the old file back would drop rules saved since
        files: [{ path: persistFile, keepOnUndo: true }],
        // an IPv4 record is written as before this field existed (a record without family is IPv4)
        undo: live
          ? []
          : [{ kind: 'iptables-rule', ...(family === 'ipv6' ? { family } : {}), chain, rule: spec, added: true, persistFile }],
        confirm: !live,
      };
    },
  };
}

function insertStep(family: Family, chain: string, spec: string, pos: number | undefined): Step {
  const { cmd } = FAMILIES[family];
  const args = markedSpec(spec).split(' ');
  return {
    label: `${cmd} ${pos ? `-I ${chain} ${pos}` : `-A ${chain}`} ${spec}`,
    // the command name comes from FAMILIES, never from a caller: it stays unquoted, as it always was
    command: pos ? `${cmd} ${sh`-w -I ${chain} ${String(pos)} ${args}`}` : `${cmd} ${sh`-w -A ${chain} ${args}`}`,
  };
}

export function saveCommand(persistFile: string, family: Family = 'ipv4'): string {
  const dir = persistFile.replace(/\/[^/]*$/, '');
  const tmp = `${persistFile}.mailprov-tmp`;
  return `${sh`mkdir -p ${dir}`} && ${FAMILIES[family].cmd}-save > ${sh`${tmp} && mv -f ${tmp} ${persistFile}`}`;
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
  /** Records of mailprov before IPv6 rules have no family: they are IPv4. */
  family: z.enum(['ipv4', 'ipv6']).default('ipv4'),
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
    const { cmd } = FAMILIES[r.family];
    const args = (r.marked ? markedSpec(r.rule) : norm(r.rule)).split(' ');
    const change: Step = r.added
      ? {
          label: `${cmd} -D ${r.chain} ${r.rule} (the rule mailprov added)`,
          command: `if ${cmd} ${sh`-w -C ${r.chain} ${args}`} 2>/dev/null; then ${cmd} ${sh`-w -D ${r.chain} ${args}`}; fi`,
        }
      : {
          label: `${cmd}: put back ${r.chain} ${r.rule}`,
          // placed as the resource places it: before the chain's first REJECT/DROP, else last
          command: [
            `if ! ${cmd} ${sh`-w -C ${r.chain} ${args}`} 2>/dev/null; then`,
            `  pos=$(${cmd} ${sh`-w -S ${r.chain}`} | grep -- '^-A' | grep -n -m1 -E -- '-j (REJECT|DROP)' | cut -d: -f1)`,
            `  if [ -n "$pos" ]; then ${cmd} ${sh`-w -I ${r.chain} "$pos" ${args}`}; else ${cmd} ${sh`-w -A ${r.chain} ${args}`}; fi`,
            'fi',
          ].join('\n'),
        };
    const save = r.persistFile && { label: `save rules to ${r.persistFile}`, command: saveCommand(r.persistFile, r.family) };
    return save ? [change, save] : [change];
  },
  inverse: (r) => ({ ...r, added: !r.added }),
  describe: (r) => `${r.added ? '-' : '+'} ${FAMILIES[r.family].cmd} rule -A ${r.chain} ${r.rule}`,
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
