// firewallRule: one iptables (or ip6tables) rule in the filter table, present once, inserted before
// the first REJECT/DROP of its chain (so it is reached), and persisted so it survives a reboot; with
// `open` to some networks, that rule once per source network of its family (`-s`). The rules
// mailprov inserts carry a comment match ("mailprov"), so that undoing them deletes exactly those
// rules and never an identical one a person added by hand, and a change of networks replaces
// exactly mailprov's old ones. Where firewalld runs, a service (or rich rules) instead; where ufw or
// a native nftables ruleset decides (facts/firewall.ts), the port described by `open` is opened
// there, their own way (firewall-native.ts).
import { z } from 'zod';
import { fileFact, ip6tablesFact, iptablesFact } from '../facts/builtin.ts';
import { firewallFact } from '../facts/firewall.ts';
import {
  adoptedDetails,
  canonicalOpening,
  describe,
  NFT_CONF,
  planFirewalldRich,
  planNftables,
  planUfw,
  type PortOpening,
  type RichPlan,
  richChanges,
} from './firewall-native.ts';
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import { script } from '../transport/script.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Resource, Step, UndoHandler, UndoRecord } from './types.ts';

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
  /**
   * The port the rule opens, and to whom. In iptables, the rule once per source network of its
   * family (none: the port stays shut to it); where ufw, a native nftables ruleset or firewalld
   * decides, what it is told instead (the IPv4 resource opens both families there).
   */
  open?: PortOpening;
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
  // sources as the firewalls print them back, so that what is there compares equal to what is asked
  const open = opts.open && canonicalOpening(opts.open);
  if (open && open.sources !== 'everyone' && /(^| )(!\s+)?(-s|--source|--src)( |$)/.test(spec))
    throw new OperationError(
      `firewall rule must not name a source when it is opened to some networks (mailprov adds -s per network): ${opts.rule}`,
    );
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    // firewalld is read with the IPv4 rules, whichever the family
    facts: () => [
      iptablesFact.query(),
      fact.query(),
      ...(opts.open ? [firewallFact.query(), fileFact.query(NFT_CONF)] : []),
      ...(opts.persistFile ? [opts.persistFile] : [debian, rhel]).map((path) => fileFact.query(path)),
    ],
    plan(facts, ctx): Change | NoChange {
      const iptables = facts.get(fact, undefined);
      const firewalld = facts.get(iptablesFact, undefined).firewalld;
      const svc = opts.firewalldService;
      if (firewalld && svc && open && open.sources !== 'everyone') {
        // to some networks only: rich rules for the service, both families from the IPv4 resource
        if (family === 'ipv6')
          return { resourceId: id, reason: `the firewalld rich rules of ${firewallRuleId(chain, spec, 'ipv4')} cover IPv6 too` };
        // the zone's service admits every source: rich rules beside it would say "relayFrom only" and change nothing
        if (firewalld.runtime.includes(svc) || firewalld.permanent.includes(svc))
          throw new OperationError(
            `firewalld allows the ${svc} service (${open.proto}/${open.port} from everyone, both families): rich rules for ${describe(open)} would change nothing; take the service out of the zone (firewall-cmd --permanent --remove-service=${svc}, and at runtime), or set the port open to everyone`,
          );
        return planFirewalldRich(id, open, svc, facts.get(firewallFact, undefined));
      }
      if (firewalld && svc) {
        // one firewalld service opens both families: when the IPv4 twin allows it, that is done
        const twin = firewallRuleId(chain, spec, 'ipv4');
        if (family === 'ipv6' && ctx.changed.has(twin))
          return { resourceId: id, reason: `firewalld's ${svc} service covers IPv6 too (${twin})` };
        // open to everyone after relayFrom: mailprov's rich rules are no longer asked for (the IPv4 resource takes them out)
        const rich =
          open && family === 'ipv4'
            ? richChanges([], svc, facts.get(firewallFact, undefined).richRules ?? { runtime: [], permanent: [] })
            : undefined;
        return planFirewalld(id, svc, firewalld, open, rich);
      }
      const fw = open ? facts.get(firewallFact, undefined) : undefined;
      if (open && (fw?.manager === 'nftables' || fw?.manager === 'ufw')) {
        // an iptables rule there would be passed over by the firewall that decides: its own rules instead
        if (family === 'ipv6')
          return { resourceId: id, reason: `${fw.why}: the rules of ${firewallRuleId(chain, spec, 'ipv4')} cover IPv6 too` };
        return fw.manager === 'nftables' ? planNftables(id, open, fw, facts.get(fileFact, NFT_CONF)) : planUfw(id, open, fw);
      }
      if (!iptables.available) throw new OperationError(`${cmd} is not available on this host (needed for rule -A ${chain} ${spec})`);
      return planIptables(id, family, chain, spec, open, iptables.rules, opts.persistFile ?? defaultPersistFile(facts, family), (path) =>
        facts.get(fileFact, path),
      );
    },
  };
}

/**
 * The rules the resource wants in iptables: its spec, or with `open` to some networks, the spec
 * once per source network of this family (`-s` first, as `iptables -S` prints it; none: the port
 * stays shut to this family).
 */
export function wantedSpecs(spec: string, family: Family, open: PortOpening | undefined): string[] {
  if (!open || open.sources === 'everyone') return [spec];
  return open.sources[family].map((source) => `-s ${source} ${spec}`);
}

/** The source of a rule line mailprov marked for this spec ('' for none), or undefined when it is not one of them. */
export function ourSource(line: string, chain: string, spec: string): string | undefined {
  const m = /^-A (\S+) (?:-s (\S+) )?(.*)$/.exec(norm(line));
  return m && m[1] === chain && m[3] === markedSpec(spec) ? (m[2] ?? '') : undefined;
}

function planIptables(
  id: string,
  family: Family,
  chain: string,
  spec: string,
  open: PortOpening | undefined,
  rules: string[],
  persistFile: string,
  file: (path: string) => { exists: boolean; content?: string },
): Change | NoChange {
  const { cmd } = FAMILIES[family];
  const saved = file(persistFile);
  const savedLines = saved.exists ? (saved.content ?? '').split('\n').map(norm) : [];
  const live = rules.map(norm);
  const wanted = wantedSpecs(spec, family, open);
  // ours, or the same rule added by hand: either way the port is open to it
  const present = (text: string[], w: string) => text.includes(`-A ${chain} ${markedSpec(w)}`) || text.includes(`-A ${chain} ${w}`);
  // mailprov's rules of this spec with a source it no longer wants (relayFrom changed, or
  // smtpPortFrom): taken out, live and saved; a person's rules are never marked, and stay
  const stale = (text: string[]) =>
    text
      .filter((l) => ourSource(l, chain, spec) !== undefined)
      .map((l) => unmarked(l.replace(/^-A \S+ /, '')))
      .filter((r) => !wanted.includes(r));
  const toAdd = wanted.filter((w) => !present(live, w) || !present(savedLines, w));
  const toRemove = [...new Set([...stale(live), ...stale(savedLines)])];
  const to = open ? ` (${open.proto}/${open.port} open to ${describe(open)})` : '';
  if (!toAdd.length && !toRemove.length)
    return {
      resourceId: id,
      reason: !wanted.length
        ? `${open!.proto}/${open!.port} opens to ${describe(open!) || 'no network'}, none of them ${family === 'ipv6' ? 'IPv6' : 'IPv4'}: ${cmd} keeps it shut`
        : `rule${wanted.length > 1 ? 's' : ''} present and saved in ${persistFile}${to}`,
    };
  // mailprov saves its own lines only: the live table also holds rules of other tools (fail2ban
  // bans, Docker's chains) that must not become boot-time rules, so it is never dumped whole
  const createdFile = !saved.exists;
  const steps: Step[] = [];
  const edits: string[] = [];
  const undo: UndoRecord[] = [];
  const said: string[] = [];
  const base = { kind: 'iptables-rule', ...(family === 'ipv6' ? { family } : {}), chain } as const;
  let insertAt = insertPosition(rules, chain);
  for (const w of toAdd) {
    const isLive = present(live, w);
    const isSaved = present(savedLines, w);
    if (!isLive) {
      steps.push(insertStep(family, chain, w, insertAt));
      if (insertAt) insertAt++;
    }
    if (!isSaved) edits.push(persistAddCommand(persistFile, chain, `-A ${chain} ${markedSpec(w)}`));
    said.push(isLive ? `save ${cmd} rule -A ${chain} ${w} in ${persistFile}` : `add ${cmd} rule -A ${chain} ${w}`);
    // an IPv4 record is written as before this field existed (a record without family is IPv4);
    // a rule that was live already is not mailprov's to delete, nor a line saved already its to take out
    undo.push({
      ...base,
      rule: w,
      added: true,
      ...(isSaved ? {} : { persistFile, createdFile }),
      ...(isLive ? { liveRule: false } : {}),
    });
  }
  for (const r of toRemove) {
    const isLive = live.includes(`-A ${chain} ${markedSpec(r)}`);
    const isSaved = savedLines.includes(`-A ${chain} ${markedSpec(r)}`);
    if (isLive) steps.push(deleteStep(family, chain, r));
    if (isSaved) edits.push(persistRemoveCommand(persistFile, chain, `-A ${chain} ${markedSpec(r)}`, false));
    said.push(`take out ${cmd} rule -A ${chain} ${r}`);
    // its undo puts back what was there: the live rule, the saved line, or both
    undo.push({ ...base, rule: r, added: false, ...(isSaved ? { persistFile } : {}), ...(isLive ? {} : { liveRule: false }) });
  }
  // one edit is its own command; several run in order, stopping at the first that fails
  if (edits.length) steps.push({ label: `save rules to ${persistFile}`, command: edits.length === 1 ? edits[0] : script(edits) });
  const inserts = toAdd.some((w) => !present(live, w));
  return {
    resourceId: id,
    action: toRemove.length ? 'change-rule' : inserts ? 'add-rule' : 'persist-rule',
    summary: `${said.join('; ')}${to}`,
    reason: toRemove.length
      ? `mailprov's rules there now admit ${toRemove.map((r) => /^-s (\S+) /.exec(r)?.[1] ?? 'everyone').join(', ')}`
      : inserts
        ? `rule not present`
        : `rule is live but not saved in ${persistFile}`,
    steps,
    // the saved rules are copied aside, but undone by taking out exactly the lines mailprov
    // added (and putting back those it took out): putting the old file back would drop rules saved since
    files: [{ path: persistFile, keepOnUndo: true }],
    undo,
    // a rule taken out could be the one this connection comes through
    confirm: inserts || toRemove.length > 0,
  };
}

/** The spec without mailprov's comment match. */
const unmarked = (marked: string) => norm(marked.replace(` -m comment --comment ${RULE_COMMENT}`, ''));

function deleteStep(family: Family, chain: string, spec: string): Step {
  const { cmd } = FAMILIES[family];
  return {
    label: `${cmd} -D ${chain} ${spec} (mailprov's, no longer asked for)`,
    command: `${cmd} ${sh`-w -D ${chain} ${markedSpec(spec).split(' ')}`}`,
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

/** What mailprov writes as a saved rules file when there was none: an empty filter table, plus the chain if it is not built in. */
export function filterSkeleton(chain: string): string[] {
  const builtin = ['INPUT', 'FORWARD', 'OUTPUT'];
  return ['*filter', ...builtin.map((c) => `:${c} ACCEPT [0:0]`), ...(builtin.includes(chain) ? [] : [`:${chain} - [0:0]`]), 'COMMIT'];
}

// Edits of the saved rules file (iptables-save format), in awk (POSIX; mawk on Debian). The line
// and chain come in the environment (MP_LINE, MP_CHAIN), never inside the program text.
// Adding: in the *filter table, before the chain's first REJECT/DROP (as the live rule is placed),
// else after its last rule, else before COMMIT; the chain declared if it was not; a *filter table
// appended when the file has none. A file that already holds the line is printed unchanged.
const ADD_AWK = `BEGIN { L = ENVIRON["MP_LINE"]; C = ENVIRON["MP_CHAIN"]; A = "-A " C " "; n = 0 }
{ x[++n] = $0 }
END {
  s = 0; e = 0
  for (i = 1; i <= n; i++) if (x[i] == "*filter") { s = i; break }
  if (s) for (i = s + 1; i <= n; i++) if (x[i] == "COMMIT") { e = i; break }
  if (s && !e) { print "mailprov: the *filter table of the saved rules has no COMMIT line" > "/dev/stderr"; exit 3 }
  for (i = 1; i <= n; i++) print x[i]
  if (!s) { print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]"
    if (C != "INPUT" && C != "FORWARD" && C != "OUTPUT") print ":" C " - [0:0]"
    print L; print "COMMIT"; exit 0 }
  exit 0
}`;

// The add proper, once the file has a *filter table (the program above appended one otherwise).
const PLACE_AWK = `BEGIN { L = ENVIRON["MP_LINE"]; C = ENVIRON["MP_CHAIN"]; A = "-A " C " "; D = ":" C " "; n = 0 }
{ x[++n] = $0 }
END {
  s = 0; e = 0; decl = 0; lastdecl = 0; first = 0; last = 0
  for (i = 1; i <= n; i++) if (x[i] == "*filter") { s = i; break }
  for (i = s + 1; i <= n; i++) if (x[i] == "COMMIT") { e = i; break }
  for (i = s + 1; i < e; i++) {
    if (x[i] == L) { for (j = 1; j <= n; j++) print x[j]; exit 0 }
    if (substr(x[i], 1, 1) == ":") { lastdecl = i; if (substr(x[i], 1, length(D)) == D) decl = 1 }
    if (substr(x[i], 1, length(A)) == A) { last = i; if (!first && x[i] ~ / -j (REJECT|DROP)( |$)/) first = i }
  }
  at = first ? first : (last ? last + 1 : e)
  for (i = 1; i <= n; i++) {
    if (i == at) print L
    print x[i]
    if (!decl && i == (lastdecl ? lastdecl : s)) print ":" C " - [0:0]"
  }
}`;

// Removing: the first line equal to ours inside the *filter table; every other line as it was.
const REMOVE_AWK = `BEGIN { L = ENVIRON["MP_LINE"]; f = 0; done = 0 }
$0 == "*filter" { f = 1 }
f && $0 == "COMMIT" { f = 0 }
f && !done && $0 == L { done = 1; next }
{ print }`;

/**
 * Adds mailprov's line to the saved rules file (created, 0600, when absent), through a temp file
 * that keeps the file's owner and mode, and a rename.
 */
export function persistAddCommand(persistFile: string, chain: string, line: string): string {
  const dir = persistFile.replace(/\/[^/]*$/, '') || '/';
  const tmp = `${persistFile}.mailprov-tmp`;
  // a failing line cleans up and keeps its exit status, which fails its step (see script())
  const clean = sh`{ s=$?; rm -f ${tmp} ${`${tmp}.1`}; (exit $s); }`;
  return subshell([
    sh`export MP_LINE=${line} MP_CHAIN=${chain}`,
    sh`mkdir -p ${dir} && umask 077 && rm -f ${tmp} ${`${tmp}.1`}`,
    sh`if [ -e ${persistFile} ]; then cp -a ${persistFile} ${tmp} && cp -a ${persistFile} ${`${tmp}.1`}; fi`,
    sh`{ [ -e ${persistFile} ] && cat ${persistFile}; true; } | awk ${ADD_AWK} > ${`${tmp}.1`} || ${clean}`,
    sh`awk ${PLACE_AWK} ${`${tmp}.1`} > ${tmp} && rm -f ${`${tmp}.1`} && mv -f ${tmp} ${persistFile} || ${clean}`,
  ]);
}

/**
 * Takes mailprov's line out of the saved rules file; a file mailprov created goes whole when what
 * is left is the empty table it wrote (anything saved into it since keeps it).
 */
export function persistRemoveCommand(persistFile: string, chain: string, line: string, createdFile: boolean): string {
  const tmp = `${persistFile}.mailprov-tmp`;
  const skeleton = `${filterSkeleton(chain).join('\n')}\n`;
  const clean = sh`{ s=$?; rm -f ${tmp}; (exit $s); }`;
  return subshell([
    sh`[ -e ${persistFile} ] || exit 0`,
    sh`export MP_LINE=${line}`,
    sh`rm -f ${tmp} && cp -a ${persistFile} ${tmp} && awk ${REMOVE_AWK} ${persistFile} > ${tmp} || ${clean}`,
    createdFile ? sh`if printf '%s' ${skeleton} | cmp -s - ${tmp}; then rm -f ${tmp} && rm -f ${persistFile} && exit 0; fi` : '',
    sh`if cmp -s ${tmp} ${persistFile}; then rm -f ${tmp}; else mv -f ${tmp} ${persistFile} || ${clean}; fi`,
  ]);
}

/**
 * A subshell: its `exit`s and environment stay inside (the watcher runs revert steps in one
 * script); it stops at its first failing line.
 */
function subshell(lines: string[]): string {
  return ['(', script(lines), ')'].join('\n');
}

function persistAddStep(persistFile: string, chain: string, line: string): Step {
  return { label: `save rules to ${persistFile}`, command: persistAddCommand(persistFile, chain, line) };
}

/**
 * firewalld: the service allowed now and permanently, each told directly, as the rich rules are: a
 * --reload would also drop runtime rules of other tools (fail2ban's bans) that were never made
 * permanent. Its undo takes it out of exactly the layers it was added to. Open to everyone, the
 * rich rules mailprov added for relayFrom go (`rich`), and come back on undo.
 */
function planFirewalld(
  id: string,
  svc: string,
  fwd: { runtime: string[]; permanent: string[] },
  open?: PortOpening,
  rich?: RichPlan,
): Change | NoChange {
  // the service opens the port to every source, in both families: the plan says so
  const to = open ? ` (${open.proto}/${open.port} open to everyone)` : '';
  const layers = { runtime: !fwd.runtime.includes(svc), permanent: !fwd.permanent.includes(svc) };
  const richGone = rich?.removed ?? [];
  if (!layers.runtime && !layers.permanent && !richGone.length) return { resourceId: id, reason: `firewalld allows ${svc}${to}` };
  const service = layers.runtime || layers.permanent;
  const ruleGone = richGone.length
    ? `mailprov's rich rules for ${svc} there now admit ${richGone.map((r) => /source address="([^"]+)"/.exec(r)![1]).join(', ')}`
    : '';
  return {
    resourceId: id,
    action: service ? 'add-service' : 'change-rule',
    summary: `${service ? `allow ${svc} in firewalld` : `take out mailprov's rich rules for ${svc} in firewalld, which allows it`}${to}`,
    reason: [
      !service
        ? ''
        : !layers.permanent
          ? `${svc} allowed permanently but not at runtime`
          : !layers.runtime
            ? `${svc} allowed at runtime but not permanently`
            : `firewalld does not allow ${svc}`,
      ruleGone,
    ]
      .filter(Boolean)
      .join('; '),
    ...(rich?.adopted.length ? { details: adoptedDetails(rich.adopted) } : {}),
    // the service first: the rich rules' networks are never shut out in between
    steps: [...(service ? [firewalldStep(svc, 'add', layers)] : []), ...(rich?.steps ?? [])],
    undo: [...(service ? [{ kind: 'firewalld-service', service: svc, added: true, ...layers }] : []), ...(rich?.undo ?? [])],
    confirm: true,
  };
}

function firewalldStep(svc: string, verb: 'add' | 'remove', layers: { runtime: boolean; permanent: boolean }): Step {
  const now = `firewall-cmd ${sh`${`--${verb}-service=${svc}`}`} >/dev/null`;
  const permanent = `firewall-cmd ${sh`--permanent ${`--${verb}-service=${svc}`}`} >/dev/null`;
  const where = layers.runtime && layers.permanent ? 'now and --permanent' : layers.runtime ? 'now only' : '--permanent only';
  return {
    label: `firewall-cmd --${verb}-service=${svc} (${where})`,
    command: [...(layers.runtime ? [now] : []), ...(layers.permanent ? [permanent] : [])].join(' && '),
  };
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
  /** The saved rules file did not exist before mailprov wrote it: its undo may remove it. */
  createdFile: z.boolean().default(false),
  /** false: the rule was live already (not mailprov's to delete); the record covers the saved line only. */
  liveRule: z.boolean().default(true),
});
type RuleRecord = z.infer<typeof ruleRecord>;

/**
 * Deletes exactly the rule mailprov marked and takes exactly its line out of the saved file (or
 * the file, if mailprov created it and nothing else was saved in it); the inverse puts both back.
 */
export const iptablesRuleUndo: UndoHandler<RuleRecord> = {
  kind: 'iptables-rule',
  parse: (record) => parseRecord(ruleRecord, record),
  steps(r) {
    const { cmd } = FAMILIES[r.family];
    const spec = r.marked ? markedSpec(r.rule) : norm(r.rule);
    const args = spec.split(' ');
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
    const line = `-A ${r.chain} ${spec}`;
    const save: Step | undefined = !r.persistFile
      ? undefined
      : r.added
        ? {
            label: `take mailprov's rule out of ${r.persistFile}`,
            command: persistRemoveCommand(r.persistFile, r.chain, line, r.createdFile),
          }
        : persistAddStep(r.persistFile, r.chain, line);
    return [...(r.liveRule ? [change] : []), ...(save ? [save] : [])];
  },
  inverse: (r) => ({ ...r, added: !r.added }),
  describe: (r) =>
    `${r.added ? '-' : '+'} ${FAMILIES[r.family].cmd} rule -A ${r.chain} ${r.rule}${r.liveRule ? '' : ` (its saved line in ${r.persistFile} only)`}`,
};

const serviceRecord = z.object({
  kind: z.literal('firewalld-service'),
  service: z.string().regex(/^[A-Za-z0-9._-]+$/),
  added: z.boolean().default(true),
  /** Which of firewalld's layers the change touched; records of mailprov before this say neither, and meant both. */
  runtime: z.boolean().default(true),
  permanent: z.boolean().default(true),
});
type FirewalldRecord = z.infer<typeof serviceRecord>;

export const firewalldServiceUndo: UndoHandler<FirewalldRecord> = {
  kind: 'firewalld-service',
  parse: (record) => parseRecord(serviceRecord, record),
  steps: (r) => [firewalldStep(r.service, r.added ? 'remove' : 'add', r)],
  inverse: (r) => ({ ...r, added: !r.added }),
  describe: (r) => `${r.added ? '-' : '+'} firewalld service ${r.service}`,
};
