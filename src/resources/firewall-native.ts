// Opening a TCP port where the firewall that decides is not iptables: a native nftables ruleset
// (rules inserted at the head of each input chain that drops, for the families it sees, persisted
// as a marked block of /etc/nftables.conf checked with `nft -c -f` before it replaces the file),
// ufw (its own rules, which it persists itself) and firewalld (rich rules, runtime and permanent).
// Every rule carries a mark (an nft comment "mailprov", a ufw comment, a rich rule's priority 25),
// so a change replaces exactly mailprov's rules, its undo removes exactly them, and never one a
// person added.
import { z } from 'zod';
import type { FirewallFacts, NftInputChain } from '../facts/firewall.ts';
import { RULE_MARK } from '../facts/firewall.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Step, UndoHandler, UndoRecord } from './types.ts';

/** Who may connect: everyone, or these source networks (CIDR), by family. */
export type PortSources = 'everyone' | { ipv4: string[]; ipv6: string[] };

export interface PortOpening {
  proto: 'tcp' | 'udp';
  port: number;
  sources: PortSources;
}

/**
 * A source network as iptables, nft and ufw print it back (inet_ntop): host bits cleared, IPv6
 * compressed and lower case, the prefix always written (nft and ufw leave out a host's /32 and
 * /128 themselves). Anything else would never match what the firewall shows, and be "added"
 * again on every run.
 */
export function canonicalSource(source: string, family: 'ipv4' | 'ipv6'): string {
  const [addr, prefixText, ...rest] = source.trim().split('/');
  const bits = family === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  const words = family === 'ipv4' ? ipv4Words(addr) : ipv6Words(addr);
  if (rest.length || !words || !(prefix >= 0 && prefix <= bits))
    throw new OperationError(`"${source}" is not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} network (address/prefix)`);
  // words of 8 (IPv4) or 16 (IPv6) bits; those past the prefix cleared
  const size = family === 'ipv4' ? 8 : 16;
  const masked = words.map((w, i) => {
    const keep = Math.max(0, Math.min(size, prefix - i * size));
    return keep === 0 ? 0 : w & ~((1 << (size - keep)) - 1) & ((1 << size) - 1);
  });
  return `${family === 'ipv4' ? masked.join('.') : compressIpv6(masked)}/${prefix}`;
}

function ipv4Words(addr: string): number[] | undefined {
  const parts = addr.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.map(Number);
}

function ipv6Words(addr: string): number[] | undefined {
  const halves = addr.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 2 ? missing < 1 : missing !== 0) || [...head, ...tail].some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g)))
    return undefined;
  return [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) => Number.parseInt(g, 16));
}

/** As inet_ntop writes it: the longest run of two or more zero groups (the first of equals) as `::`. */
function compressIpv6(words: number[]): string {
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best.len < 2) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** The opening with its sources as the firewalls print them back, each once. */
export function canonicalOpening(open: PortOpening): PortOpening {
  if (open.sources === 'everyone') return open;
  const canon = (list: string[], family: 'ipv4' | 'ipv6') => [...new Set(list.map((s) => canonicalSource(s, family)))];
  return { ...open, sources: { ipv4: canon(open.sources.ipv4, 'ipv4'), ipv6: canon(open.sources.ipv6, 'ipv6') } };
}

/** nftables' boot-time ruleset on Debian (nftables.service loads it). */
export const NFT_CONF = '/etc/nftables.conf';
const BEGIN = `# ${RULE_MARK}: begin (mailprov's rules; its undo takes this block out)`;
const END = `# ${RULE_MARK}: end`;

const cidrKey = (c: string) => c.toLowerCase();
/** As nft prints an address: a single one without braces, several in braces, sorted as nft sorts them. */
function nftSet(items: string[], family: 'ip' | 'ip6'): string {
  const norm = items.map((c) => (family === 'ip' ? c.replace(/\/32$/, '') : c.replace(/\/128$/, ''))).map(cidrKey);
  const sorted = [...new Set(norm)].sort(family === 'ip' ? byIpv4 : undefined);
  return sorted.length === 1 ? sorted[0] : `{ ${sorted.join(', ')} }`;
}
function byIpv4(a: string, b: string): number {
  const n = (s: string) =>
    s
      .split('/')[0]
      .split('.')
      .reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}

/** The nft rules (as `nft list` prints them) that open the port in a chain of this table family. */
export function nftRules(open: PortOpening, tableFamily: string): string[] {
  const tail = `${open.proto} dport ${open.port} accept comment "${RULE_MARK}"`;
  if (open.sources === 'everyone') return [tail];
  const rules: string[] = [];
  if (open.sources.ipv4.length && tableFamily !== 'ip6') rules.push(`ip saddr ${nftSet(open.sources.ipv4, 'ip')} ${tail}`);
  if (open.sources.ipv6.length && tableFamily !== 'ip') rules.push(`ip6 saddr ${nftSet(open.sources.ipv6, 'ip6')} ${tail}`);
  return rules;
}

/** Set elements compared as sets: `{ b, a }` and `{ a, b }` are one rule. */
export const normNft = (rule: string) =>
  rule
    .replace(/\{ ([^}]*) \}/g, (_, items: string) =>
      items.includes(',')
        ? `{ ${items
            .split(',')
            .map((s) => s.trim())
            .sort()
            .join(', ')} }`
        : items.trim(),
    )
    .replace(/\s+/g, ' ')
    .trim();

const sameRules = (a: string[], b: string[]) => JSON.stringify(a.map(normNft).sort()) === JSON.stringify(b.map(normNft).sort());

type ChainRef = Pick<NftInputChain, 'family' | 'table' | 'chain'>;
/** A chain and mailprov's rules in it. */
export type ChainRules = ChainRef & { rules: string[] };
const chainName = (c: ChainRef) => `${c.family} ${c.table} ${c.chain}`;

/** Shell: delete every rule marked mailprov's in the chain (by handle), and nothing else. */
function nftDeleteOurs(c: ChainRef): string {
  const where = sh`${c.family} ${c.table} ${c.chain}`;
  const pattern = `s/.*comment "${RULE_MARK}" # handle \\([0-9][0-9]*\\)$/\\1/p`;
  return `for h in $(nft -a list chain ${where} | sed -n ${sh`${pattern}`}); do nft delete rule ${where} handle "$h" || exit 1; done`;
}

/** Shell: insert the rules at the head of the chain, in their order. */
const nftInsert = (c: ChainRef, rules: string[]) =>
  [...rules].reverse().map((r) => `nft ${sh`insert rule ${c.family} ${c.table} ${c.chain}`} ${r}`);

/**
 * The block mailprov keeps in nftables.conf: its rules, inserted after the file's own tables load,
 * chain after chain (one chain: the block as it always was).
 */
export function nftBlock(chains: ChainRules[]): string {
  return [BEGIN, ...chains.flatMap((c) => [...c.rules].reverse().map((r) => `insert rule ${chainName(c)} ${r}`)), END].join('\n');
}
/** The conf's text with mailprov's block as given (none: taken out); the file's other lines as they were. */
export function withNftBlock(conf: string, block: string | undefined): string {
  const lines = conf.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const l of lines) {
    if (l === BEGIN) inside = true;
    else if (inside && l === END) inside = false;
    else if (!inside) out.push(l);
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n${block ? `${block}\n` : ''}`;
}

/** mailprov's block in the conf, if any. */
export function nftBlockOf(conf: string): string | undefined {
  const lines = conf.split('\n');
  const at = lines.indexOf(BEGIN);
  if (at < 0) return undefined;
  const end = lines.indexOf(END, at);
  return end < 0 ? undefined : lines.slice(at, end + 1).join('\n');
}

// Rewrites the conf: the block taken out, the new one (in MP_BLOCK) appended, the result checked by
// `nft -c -f` before it replaces the file (owner and mode kept). The block comes in the environment.
const BLOCK_AWK = `BEGIN { B = ENVIRON["MP_BEGIN"]; E = ENVIRON["MP_END"]; skip = 0 }
$0 == B { skip = 1; next }
skip && $0 == E { skip = 0; next }
!skip { print }`;

export function nftPersistCommand(conf: string, block: string | undefined): string {
  const tmp = `${conf}.mailprov-tmp`;
  return [
    '(',
    sh`export MP_BEGIN=${BEGIN} MP_END=${END} MP_BLOCK=${block ?? ''}`,
    sh`[ -e ${conf} ] || { echo ${`mailprov: ${conf} is missing: the nftables ruleset cannot be saved for the next boot`} >&2; exit 1; }`,
    sh`rm -f ${tmp} && cp -a ${conf} ${tmp} && awk ${BLOCK_AWK} ${conf} > ${tmp} || { rm -f ${tmp}; exit 1; }`,
    sh`if [ -n "$MP_BLOCK" ]; then printf '%s\\n' "$MP_BLOCK" >> ${tmp} || { rm -f ${tmp}; exit 1; }; fi`,
    sh`if ! out=$(nft -c -f ${tmp} 2>&1); then rm -f ${tmp}; printf '%s\\n%s\\n' ${`mailprov: ${conf} with mailprov's rules does not pass nft -c -f (left as it was):`} "$out" >&2; exit 1; fi`,
    sh`mv -f ${tmp} ${conf}`,
    ')',
  ].join('\n');
}

function nftSteps(chains: ChainRules[], conf: string): Step[] {
  const total = chains.reduce((n, c) => n + c.rules.length, 0);
  return [
    ...chains.map((c) => ({
      label: c.rules.length
        ? `nft: mailprov's rules at the head of ${chainName(c)}: ${c.rules.join('; ')}`
        : `nft: take mailprov's rules out of ${chainName(c)}`,
      command: ['(', nftDeleteOurs(c), ...nftInsert(c, c.rules).map((l) => `${l} || exit 1`), ')'].join('\n'),
    })),
    {
      label: `save them in ${conf} (checked with nft -c -f first)`,
      command: nftPersistCommand(conf, total ? nftBlock(chains.filter((c) => c.rules.length)) : undefined),
    },
  ];
}

/** Which families of packets pass a chain of this table family. */
const FAMILIES_SEEN: Record<string, Array<'ipv4' | 'ipv6'>> = { inet: ['ipv4', 'ipv6'], ip: ['ipv4'], ip6: ['ipv6'] };

/**
 * A packet must be accepted by every input hook chain of its family: the port is opened in each
 * native chain that drops, for the families that chain sees (IPv4 sources in a `table ip`, IPv6 in
 * a `table ip6`, both in a `table inet`), the usual `table ip filter` + `table ip6 filter` included.
 */
export function planNftables(
  id: string,
  open: PortOpening,
  fw: FirewallFacts,
  conf: { exists: boolean; content?: string },
): Change | NoChange {
  const chains = (fw.nftChains ?? [fw.nft!]).filter((c) => c.family in FAMILIES_SEEN);
  const where = `nftables ${chains.map((c) => `${c.family} ${c.table} chain ${c.chain}`).join(' and ')}`;
  const wanted: ChainRules[] = chains.map((c) => ({ family: c.family, table: c.table, chain: c.chain, rules: nftRules(open, c.family) }));
  if (!wanted.some((c) => c.rules.length))
    throw new OperationError(`no source of the port's allowed networks is of the family of ${where}`);
  if (!conf.exists)
    throw new OperationError(
      `${where} drop${chains.length > 1 ? '' : 's'} input, but ${NFT_CONF} is missing: mailprov would open port ${open.port} until the next boot only`,
    );
  const block = nftBlock(wanted.filter((c) => c.rules.length));
  const saved = nftBlockOf(conf.content ?? '');
  const differs = wanted.filter((c, i) => !sameRules(chains[i].ours, c.rules));
  if (!differs.length && saved === block)
    return {
      resourceId: id,
      reason: `${where} accept${chains.length > 1 ? '' : 's'} ${describe(open)} (mailprov's rules, saved in ${NFT_CONF})`,
    };
  const ours = chains.flatMap((c) => c.ours);
  const records = wanted.map((c, i) => ({ ...c, previous: saved ? savedRules(saved, c) : chains[i].ours }));
  const steps = nftSteps(wanted, NFT_CONF);
  return {
    resourceId: id,
    action: ours.length ? 'change-rule' : 'add-rule',
    summary: `open ${open.proto}/${open.port} to ${describe(open)} in ${where}`,
    reason: `${fw.why}${ours.length ? `; mailprov's rules there now: ${ours.join('; ')}` : ''}`,
    // the chains whose live rules differ, then the conf (with every chain's rules)
    steps: [...steps.filter((_, i) => i < wanted.length && differs.includes(wanted[i])), steps[steps.length - 1]],
    files: [{ path: NFT_CONF, keepOnUndo: true }],
    // one chain: the record as it always was; several: one record for them all (they share the conf's block)
    undo: [
      records.length === 1 ? { kind: 'nft-rules', ...records[0], conf: NFT_CONF } : { kind: 'nft-rules', conf: NFT_CONF, chains: records },
    ],
    confirm: true,
  };
}

/** mailprov's rules for the chain in a saved block, in chain order. */
const savedRules = (block: string, c: ChainRef) =>
  block
    .split('\n')
    .filter((l) => l.startsWith(`insert rule ${chainName(c)} `))
    .map((l) => l.slice(`insert rule ${chainName(c)} `.length))
    .reverse();

export function describe(open: PortOpening): string {
  if (open.sources === 'everyone') return 'everyone';
  return [...open.sources.ipv4, ...open.sources.ipv6].join(', ');
}

/** The ufw rules, in the form `ufw show added` prints them (without the leading "ufw "). */
export function ufwRules(open: PortOpening): string[] {
  const mark = `comment '${RULE_MARK}'`;
  if (open.sources === 'everyone') return [`allow ${open.port}/${open.proto} ${mark}`];
  // ufw keeps a single address without its /32 or /128 (util.normalize_address), and shows it so
  const sources = [...open.sources.ipv4.map((s) => s.replace(/\/32$/, '')), ...open.sources.ipv6.map((s) => s.replace(/\/128$/, ''))];
  return sources.map((s) => `allow from ${s} to any port ${open.port} proto ${open.proto} ${mark}`);
}

const ufwOurs = (added: string[]) => added.map((l) => l.replace(/^ufw /, '')).filter((l) => l.endsWith(`comment '${RULE_MARK}'`));

/** A rule as shown, as ufw's arguments: the comment unquoted (one word), every other word as it is. */
const ufwArgs = (rule: string) => rule.replace(/'([^']*)'$/, '$1').split(' ');

function ufwSteps(add: string[], remove: string[]): Step[] {
  return [
    ...remove.map((r) => ({ label: `ufw delete ${r}`, command: `ufw ${sh`delete ${ufwArgs(r)}`}` })),
    ...add.map((r) => ({ label: `ufw ${r}`, command: `ufw ${sh`${ufwArgs(r)}`}` })),
  ];
}

/** What ufw matches a rule by: everything but its action and comment (a second rule with that match replaces the first). */
const ufwMatch = (rule: string) => rule.replace(/^(allow|deny|reject|limit)( in)? /, '').replace(/ comment '[^']*'$/, '');

export function planUfw(id: string, open: PortOpening, fw: FirewallFacts): Change | NoChange {
  const ours = ufwOurs(fw.ufwAdded ?? []);
  const theirs = (fw.ufwAdded ?? []).map((l) => l.replace(/^ufw /, '')).filter((l) => !ours.includes(l));
  const wanted = ufwRules(open).filter((r) => {
    const same = theirs.find((t) => ufwMatch(t) === ufwMatch(r));
    if (!same) return true;
    // the same allow, added by hand: the port is open to that network already, and stays theirs
    if (/^allow /.test(same)) return false;
    // `ufw allow` with this match would silently replace their rule (ufw updates a rule in place)
    throw new OperationError(
      `ufw has a rule of its own for this match, "ufw ${same}": mailprov's "ufw ${r}" would replace it; remove or change that rule, or open the port to other networks`,
    );
  });
  const add = wanted.filter((r) => !ours.includes(r));
  const remove = ours.filter((r) => !wanted.includes(r));
  if (!add.length && !remove.length)
    return { resourceId: id, reason: `ufw allows ${open.proto}/${open.port} from ${describe(open)} (mailprov's rules)` };
  return {
    resourceId: id,
    action: ours.length ? 'change-rule' : 'add-rule',
    summary: `open ${open.proto}/${open.port} to ${describe(open)} in ufw`,
    reason: `${fw.why}${ours.length ? `; mailprov's rules there now: ${ours.join('; ')}` : ''}`,
    // ufw saves its rules itself (/etc/ufw/user.rules, user6.rules)
    steps: ufwSteps(add, remove),
    undo: [{ kind: 'ufw-rules', added: add, removed: remove }],
    confirm: true,
  };
}

const nftRule = z.string().regex(/^[^\n;]*comment "mailprov"$/);
const nftChain = z.object({
  family: z.enum(['inet', 'ip', 'ip6']),
  table: z.string().regex(/^[A-Za-z0-9_-]+$/),
  chain: z.string().regex(/^[A-Za-z0-9_-]+$/),
  /** mailprov's rules after the change, and before it (none: there were none). */
  rules: z.array(nftRule),
  previous: z.array(nftRule),
});
const nftConf = z.string().regex(/^\/[^\0\n]*$/);
// several chains share the conf's block, so one record covers them all; a one-chain record keeps its old shape
const nftRecord = z.union([
  z.object({ kind: z.literal('nft-rules'), conf: nftConf, chains: z.array(nftChain).min(1) }),
  nftChain
    .extend({ kind: z.literal('nft-rules'), conf: nftConf })
    .transform(({ kind, conf, ...chain }) => ({ kind, conf, chains: [chain] })),
]);
type NftRecord = z.output<typeof nftRecord>;

/** Puts back mailprov's rules as they were before (none: takes them out), live and in the conf. */
export const nftRulesUndo: UndoHandler<NftRecord> = {
  kind: 'nft-rules',
  parse: (record) => parseRecord(nftRecord, record),
  steps: (r) =>
    nftSteps(
      r.chains.map((c) => ({ ...c, rules: c.previous })),
      r.conf,
    ),
  inverse: (r) =>
    r.chains.length === 1
      ? { kind: r.kind, conf: r.conf, ...r.chains[0], rules: r.chains[0].previous, previous: r.chains[0].rules }
      : { ...r, chains: r.chains.map((c) => ({ ...c, rules: c.previous, previous: c.rules })) },
  describe: (r) =>
    r.chains.map((c) => `nft ${chainName(c)}: mailprov's rules back to ${c.previous.length ? c.previous.join('; ') : 'none'}`).join('; '),
};

/**
 * The undo of a change that added some rules and took out others (ufw's, firewalld's rich rules):
 * it takes out what was added and puts back what was removed; its inverse swaps the two lists.
 */
function addedRemovedUndo<K extends string>(
  kind: K,
  rule: z.ZodString,
  steps: (add: string[], remove: string[]) => Step[],
  what: string,
): UndoHandler<{ kind: K; added: string[]; removed: string[] }> {
  const record = z.object({ kind: z.literal(kind), added: z.array(rule), removed: z.array(rule) });
  return {
    kind,
    parse: (raw) => parseRecord(record, raw),
    steps: (r) => steps(r.removed, r.added),
    inverse: (r) => ({ ...r, added: r.removed, removed: r.added }),
    describe: (r) => [...r.added.map((a) => `- ${what} ${a}`), ...r.removed.map((a) => `+ ${what} ${a}`)].join(', '),
  };
}

export const ufwRulesUndo = addedRemovedUndo('ufw-rules', z.string().regex(/^allow [^\n;&|`$]* comment 'mailprov'$/), ufwSteps, 'ufw');

// firewalld's rich rules take no comment, and the objects that could carry a name (an ipset, a
// service, a zone) exist at runtime only after a --reload, which would also drop other tools'
// runtime rules (fail2ban's bans). mailprov's mark is in the rule itself: priority 25, which
// firewalld keeps in both layers and prints back. A positive priority puts the rule in the zone's
// _post chain, after its deny rules (a person's or fail2ban's reject still wins), before its target.
export const RICH_PRIORITY = 25;

/** firewalld's rich rules (as `--list-rich-rules` prints them) that admit the service from each network, marked mailprov's. */
export function richRules(open: PortOpening, service: string): string[] {
  if (open.sources === 'everyone') return [];
  const rule = (family: 'ipv4' | 'ipv6', source: string) =>
    `rule priority="${RICH_PRIORITY}" family="${family}" source address="${source}" service name="${service}" accept`;
  return [...open.sources.ipv4.map((s) => rule('ipv4', s)), ...open.sources.ipv6.map((s) => rule('ipv6', s))];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const richShape = (service: string, priority: string) =>
  new RegExp(`^rule ${priority}family="ipv[46]" source address="[0-9A-Fa-f.:/]+" service name="${escapeRe(service)}" accept$`);
/** mailprov's rich rules for the service: marked with its priority. */
const isOurRich = (service: string) => (r: string) => richShape(service, `priority="${RICH_PRIORITY}" `).test(r);
/**
 * The unmarked rule mailprov wrote before it marked them (priority 0, nothing else): adopted as
 * mailprov's, so a host applied then has its old networks replaced too; the plan names each.
 */
const isLegacyRich = (service: string) => (r: string) => richShape(service, '').test(r);

type Layers = { runtime: boolean; permanent: boolean };
const layerName = (l: Layers) => (l.runtime && l.permanent ? 'now and --permanent' : l.runtime ? 'now only' : '--permanent only');

// Runtime and permanent each told directly: a --reload would also drop runtime rules of other
// tools (fail2ban's bans) that were never made permanent. Additions first, so a network kept
// (an old unmarked rule replaced by a marked one) is never shut out in between.
function richSteps(add: string[], remove: string[], layers: Layers = { runtime: true, permanent: true }): Step[] {
  const one = (verb: 'add' | 'remove', r: string): Step => ({
    label: `firewall-cmd --${verb}-rich-rule='${r}' (${layerName(layers)})`,
    command: [
      ...(layers.runtime ? [`firewall-cmd ${sh`${`--${verb}-rich-rule=${r}`}`} >/dev/null`] : []),
      ...(layers.permanent ? [`firewall-cmd ${sh`--permanent ${`--${verb}-rich-rule=${r}`}`} >/dev/null`] : []),
    ].join(' && '),
  });
  return [...add.map((r) => one('add', r)), ...remove.map((r) => one('remove', r))];
}

export interface RichPlan {
  steps: Step[];
  undo: UndoRecord[];
  /** The rules taken out, and the unmarked ones among them (adopted), for the plan. */
  removed: string[];
  adopted: string[];
  added: string[];
}

/**
 * What makes the default zone's rich rules for the service exactly the wanted ones, layer by layer:
 * each wanted rule added where it lacks, each of mailprov's (marked, or of its old unmarked shape)
 * that is not wanted taken out where it is. One undo record per set of layers touched.
 */
export function richChanges(wanted: string[], service: string, rich: { runtime: string[]; permanent: string[] }): RichPlan {
  const ours = (r: string) => isOurRich(service)(r) || isLegacyRich(service)(r);
  const groups = new Map<string, { layers: Layers; added: string[]; removed: string[] }>();
  const put = (r: string, layers: Layers, list: 'added' | 'removed') => {
    if (!layers.runtime && !layers.permanent) return;
    const key = `${layers.runtime}/${layers.permanent}`;
    const g = groups.get(key) ?? { layers, added: [], removed: [] };
    g[list].push(r);
    groups.set(key, g);
  };
  for (const r of wanted) put(r, { runtime: !rich.runtime.includes(r), permanent: !rich.permanent.includes(r) }, 'added');
  const stale = [...new Set([...rich.runtime, ...rich.permanent])].filter((r) => ours(r) && !wanted.includes(r));
  for (const r of stale) put(r, { runtime: rich.runtime.includes(r), permanent: rich.permanent.includes(r) }, 'removed');
  const all = [...groups.values()];
  return {
    steps: all.flatMap((g) => richSteps(g.added, g.removed, g.layers)),
    // both layers: written as records were before layers were told apart
    undo: all.map((g) => ({
      kind: 'firewalld-rich-rules',
      added: g.added,
      removed: g.removed,
      ...(g.layers.runtime && g.layers.permanent ? {} : g.layers),
    })),
    added: [...new Set(all.flatMap((g) => g.added))],
    removed: stale,
    adopted: stale.filter(isLegacyRich(service)),
  };
}

/** Plan lines for the unmarked rules taken out as mailprov's. */
export const adoptedDetails = (adopted: string[]) =>
  adopted.map(
    (r) =>
      `take out unmarked rich rule '${r}': the shape mailprov wrote before it marked its rules (priority="${RICH_PRIORITY}"), taken as mailprov's; a rollback puts it back`,
  );

/**
 * firewalld with the port open to some networks: a rich rule per network, marked, added now and
 * permanently; mailprov's rules for networks no longer asked for are taken out.
 */
export function planFirewalldRich(id: string, open: PortOpening, service: string, fw: FirewallFacts): Change | NoChange {
  const rich = fw.richRules ?? { runtime: [], permanent: [] };
  const c = richChanges(richRules(open, service), service, rich);
  if (!c.steps.length) return { resourceId: id, reason: `firewalld admits ${service} from ${describe(open)} (mailprov's rich rules)` };
  const admitted = (rules: string[]) => rules.map((r) => /source address="([^"]+)"/.exec(r)![1]).join(', ');
  return {
    resourceId: id,
    action: c.removed.length ? 'change-rule' : 'add-rule',
    summary: `open ${open.proto}/${open.port} to ${describe(open)} in firewalld (rich rules for its ${service} service)`,
    reason: `${fw.why}${c.removed.length ? `; mailprov's rich rules there now admit ${admitted(c.removed)}` : ''}`,
    ...(c.adopted.length ? { details: adoptedDetails(c.adopted) } : {}),
    steps: c.steps,
    undo: c.undo,
    confirm: true,
  };
}

const richRecord = z.object({
  kind: z.literal('firewalld-rich-rules'),
  added: z.array(
    z
      .string()
      .regex(/^rule (priority="-?[0-9]+" )?family="ipv[46]" source address="[0-9A-Fa-f.:/]+" service name="[A-Za-z0-9._-]+" accept$/),
  ),
  removed: z.array(
    z
      .string()
      .regex(/^rule (priority="-?[0-9]+" )?family="ipv[46]" source address="[0-9A-Fa-f.:/]+" service name="[A-Za-z0-9._-]+" accept$/),
  ),
  /** Which of firewalld's layers the change touched; records written before this say neither, and meant both. */
  runtime: z.boolean().default(true),
  permanent: z.boolean().default(true),
});
type RichRecord = z.infer<typeof richRecord>;

/** Takes out the rich rules mailprov added and puts back those it took out, in the layers it touched. */
export const firewalldRichUndo: UndoHandler<RichRecord> = {
  kind: 'firewalld-rich-rules',
  parse: (record) => parseRecord(richRecord, record),
  steps: (r) => richSteps(r.removed, r.added, r),
  inverse: (r) => ({ ...r, added: r.removed, removed: r.added }),
  describe: (r) =>
    [...r.added.map((a) => `- firewalld ${a}`), ...r.removed.map((a) => `+ firewalld ${a}`)]
      .map((l) => (r.runtime && r.permanent ? l : `${l} (${layerName(r)})`))
      .join(', '),
};
