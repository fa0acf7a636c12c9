// Which firewall decides whether a packet reaches a port of this host: firewalld (running), ufw
// (active), a native nftables ruleset (an input hook chain that drops, in a table that neither
// iptables-nft nor firewalld made), iptables (either backend), or none. Each is opened its own way
// (resources/firewall.ts); reading the wrong one is how a port "opened" in iptables stays closed.
import { defineFact } from './fact.ts';

export type FirewallManager = 'firewalld' | 'ufw' | 'nftables' | 'iptables' | 'none';

/** A native nftables input chain that drops what it does not accept. */
export interface NftInputChain {
  /** The table's family: inet (both IP families), ip or ip6. */
  family: string;
  table: string;
  chain: string;
  /** How it drops: "policy drop", or its rule that drops. */
  drops: string;
  /** mailprov's rules in it (comment "mailprov"), as `nft list` prints them, counters taken out. */
  ours: string[];
}

export interface FirewallFacts {
  manager: FirewallManager;
  /** Why this one, for the plan and for errors: "firewalld is running", "table inet filter, chain input: policy drop". */
  why: string;
  nft?: NftInputChain;
  /** More than one native input chain drops (each must accept a packet): every one, `nft` first. */
  nftChains?: NftInputChain[];
  /** ufw's added rules (`ufw show added`), when ufw is active. */
  ufwAdded?: string[];
  /** firewalld's rich rules of the default zone, now and after a reload, when firewalld runs. */
  richRules?: { runtime: string[]; permanent: string[] };
}

export const RULE_MARK = 'mailprov';

const SCRIPT = [
  'if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then',
  '  echo MP_FIREWALLD',
  '  firewall-cmd --list-rich-rules 2>/dev/null | sed "s/^/MP_RICH /"',
  '  firewall-cmd --permanent --list-rich-rules 2>/dev/null | sed "s/^/MP_RICH_PERMANENT /"',
  'fi',
  'if command -v ufw >/dev/null 2>&1; then',
  '  ufw status 2>/dev/null | head -n 1 | sed "s/^/MP_UFW_STATUS /"',
  '  ufw show added 2>/dev/null | sed -n "s/^ufw /MP_UFW_ADDED ufw /p"',
  'fi',
  'if command -v nft >/dev/null 2>&1; then nft list ruleset 2>/dev/null | sed "s/^/MP_NFT /"; fi',
  // the INPUT chain: its lines of the rules the iptables fact read in this script, if it did
  'if command -v iptables >/dev/null 2>&1; then',
  '  if [ -n "${mp_iptables+set}" ]; then printf \'%s\\n\' "$mp_iptables" | sed -n "s/^-[PA] INPUT /MP_IPT &/p"',
  '  else iptables -S INPUT 2>/dev/null | sed "s/^/MP_IPT /"; fi',
  'fi',
  'true',
].join('\n');

const stripCounter = (rule: string) => rule.replace(/\s*counter packets \d+ bytes \d+/g, '').trim();

/** The native input chains that drop, from `nft list ruleset`; tables iptables-nft or firewalld made are not native. */
export function nativeInputChains(ruleset: string[]): NftInputChain[] {
  const found: NftInputChain[] = [];
  let table: { family: string; name: string; foreign: boolean; chains: NftInputChain[] } | undefined;
  let chain: { name: string; input: boolean; drops?: string; ours: string[]; last?: string } | undefined;
  for (const raw of ruleset) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^table (\S+) (\S+) \{$/.exec(line))) {
      table = { family: m[1], name: m[2], foreign: m[2] === 'firewalld', chains: [] };
      continue;
    }
    if (!table) continue;
    if (/managed by iptables-nft/.test(line)) table.foreign = true;
    if ((m = /^chain (\S+) \{$/.exec(line))) {
      chain = { name: m[1], input: false, ours: [] };
      continue;
    }
    if (chain) {
      if (line === '}') {
        const drops = chain.drops ?? (chain.last && /^(drop|reject)\b/.test(chain.last) ? `its last rule "${chain.last}"` : undefined);
        if (chain.input && drops)
          table.chains.push({ family: table.family, table: table.name, chain: chain.name, drops, ours: chain.ours });
        chain = undefined;
        continue;
      }
      if (/^type filter hook input\b/.test(line)) {
        chain.input = true;
        if (/policy drop;/.test(line)) chain.drops = 'policy drop';
        continue;
      }
      const rule = stripCounter(line);
      if (rule.includes(`comment "${RULE_MARK}"`)) chain.ours.push(rule);
      if (rule) chain.last = rule;
      continue;
    }
    if (line === '}') {
      if (!table.foreign) found.push(...table.chains);
      table = undefined;
    }
  }
  return found;
}

export function parseFirewall(body: string): FirewallFacts {
  const lines = body.split('\n');
  const tagged = (tag: string) => lines.filter((l) => l.startsWith(`${tag} `) || l === tag).map((l) => l.slice(tag.length + 1));
  const ufwAdded = tagged('MP_UFW_ADDED');
  if (lines.includes('MP_FIREWALLD'))
    return {
      manager: 'firewalld',
      why: 'firewalld is running',
      richRules: { runtime: tagged('MP_RICH'), permanent: tagged('MP_RICH_PERMANENT') },
    };
  if (tagged('MP_UFW_STATUS').some((s) => /^Status: active/.test(s))) return { manager: 'ufw', why: 'ufw is active', ufwAdded };
  const chains = nativeInputChains(tagged('MP_NFT'));
  const [nft] = chains;
  if (nft) {
    const why = chains.map((c) => `nftables table ${c.family} ${c.table}, chain ${c.chain}: ${c.drops}`).join('; ');
    return { manager: 'nftables', why, nft, ...(chains.length > 1 ? { nftChains: chains } : {}) };
  }
  const ipt = tagged('MP_IPT');
  if (ipt.length) {
    const drops = ipt.some((r) => /^-P INPUT (DROP|REJECT)/.test(r) || /-j (DROP|REJECT)\b/.test(r));
    return { manager: drops ? 'iptables' : 'none', why: drops ? 'iptables INPUT drops or rejects' : 'no firewall drops input' };
  }
  return { manager: 'none', why: 'no firewall drops input' };
}

/** Which firewall decides on input to this host, and what mailprov has in it. */
export const firewallFact = defineFact<FirewallFacts>({
  name: 'firewall',
  script: () => SCRIPT,
  parse: parseFirewall,
});
