// Can the sender domain pass SPF and DMARC through this smart host (issue 27, item 6)? Pure logic
// over TXT answers (the lookup is passed in; dns-txt.ts asks real DNS servers):
// - SPF (RFC 7208): the record at the envelope sender's domain, following include: and redirect=
//   with the limit of 10 DNS-querying terms, and whether it authorises the provider's include;
// - DMARC (RFC 7489): the record at _dmarc.<header From domain>, else at its parent domains (the
//   tree walk of DMARCbis, which needs no public suffix list), where `sp=` is the policy that applies.
// The findings say what to publish, record and all; a person fixes DNS, not mailprov.
import type { TxtAnswer, TxtLookup } from './dns-txt.ts';

/** RFC 7208 4.6.4: at most 10 terms that query DNS (include, a, mx, ptr, exists, redirect). */
export const SPF_LOOKUP_LIMIT = 10;
const DNS_TERMS = new Set(['include', 'a', 'mx', 'ptr', 'exists']);
const MECHANISMS = new Set([...DNS_TERMS, 'all', 'ip4', 'ip6']);

export type Qualifier = '+' | '-' | '~' | '?';

export type SpfCheck =
  | {
      kind: 'found';
      domain: string;
      record: string;
      /** DNS-querying terms a receiver evaluates, through includes and redirects. */
      lookups: number;
      /** The `all` that ends the policy (through redirect=); undefined: none, so neutral. */
      all?: Qualifier;
      /** Domains whose pass is this domain's pass: reached by pass-qualified includes and redirects. */
      authorised: string[];
      /** include:/redirect= targets with macros (%{i}...), which only a receiver can expand: not followed. */
      unfollowed: string[];
    }
  | { kind: 'none'; domain: string; nxdomain: boolean }
  | { kind: 'permerror'; domain: string; reason: string; records: string[] }
  | { kind: 'temperror'; domain: string; reason: string };

/** An SPF record: "v=spf1" alone or followed by a space (RFC 7208 4.5), in any case. */
const isSpf = (txt: string) => /^v=spf1( |$)/i.test(txt.trim());

const norm = (domain: string) => domain.trim().toLowerCase().replace(/\.$/, '');

class SpfStop extends Error {
  constructor(
    readonly kind: 'permerror' | 'temperror',
    reason: string,
  ) {
    super(reason);
  }
}

type Selected = { kind: 'one'; record: string } | { kind: 'none'; nxdomain: boolean } | { kind: 'many'; records: string[] };

async function selectSpf(domain: string, lookup: TxtLookup): Promise<Selected> {
  const answer = await lookup(domain);
  if (answer.kind === 'failed') throw new SpfStop('temperror', answer.message);
  if (answer.kind === 'nxdomain') return { kind: 'none', nxdomain: true };
  const records = answer.records.filter(isSpf).map((r) => r.trim());
  if (records.length === 0) return { kind: 'none', nxdomain: false };
  return records.length === 1 ? { kind: 'one', record: records[0] } : { kind: 'many', records };
}

interface Walk {
  lookup: TxtLookup;
  lookups: number;
  authorised: Set<string>;
  unfollowed: string[];
}

function countLookup(w: Walk, term: string): void {
  w.lookups++;
  if (w.lookups > SPF_LOOKUP_LIMIT)
    throw new SpfStop(
      'permerror',
      `it needs more than ${SPF_LOOKUP_LIMIT} DNS lookups (include, a, mx, ptr, exists, redirect; the 11th is ${term}), SPF's limit`,
    );
}

/** The record an include: or redirect= (`term`) points to: one SPF record, or a permerror naming the term. */
async function targetRecord(w: Walk, term: string, target: string): Promise<string> {
  const sel = await selectSpf(target, w.lookup);
  if (sel.kind === 'one') return sel.record;
  if (sel.kind === 'many') throw new SpfStop('permerror', `${term} has ${sel.records.length} SPF records`);
  throw new SpfStop('permerror', `${term} has no SPF record${sel.nxdomain ? ` (${target} does not exist)` : ''}`);
}

/**
 * Walks one record as a receiver evaluates it for an address that matches nothing before `all`
 * (the worst case for the lookup count). `passing`: a pass of this record is the sender domain's
 * pass. Returns the `all` that ends it, through redirect=.
 */
async function walk(w: Walk, record: string, domain: string, passing: boolean): Promise<Qualifier | undefined> {
  let redirect: string | undefined;
  for (const term of record.trim().split(/\s+/).slice(1)) {
    const modifier = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(term);
    if (modifier) {
      if (modifier[1].toLowerCase() !== 'redirect') continue; // exp= and unknown modifiers query nothing
      if (redirect !== undefined) throw new SpfStop('permerror', `${domain}'s record has redirect= twice`);
      redirect = modifier[2];
      continue;
    }
    const m = /^([+\-~?]?)([a-z][a-z0-9]*)(.*)$/i.exec(term);
    const name = m?.[2].toLowerCase() ?? '';
    const rest = m?.[3] ?? '';
    const wellFormed =
      m &&
      MECHANISMS.has(name) &&
      (name === 'all' ? rest === '' : name === 'include' || name === 'exists' ? /^:[^/]+/.test(rest) : rest === '' || /^[:/]/.test(rest));
    if (!wellFormed) throw new SpfStop('permerror', `${domain}'s record has "${term}", which is no SPF mechanism or modifier`);
    const qualifier = (m[1] || '+') as Qualifier;
    // evaluation stops at `all`: what follows it is never reached, and redirect= is ignored
    if (name === 'all') return qualifier;
    if (!DNS_TERMS.has(name)) continue;
    countLookup(w, term);
    if (name !== 'include') continue;
    const target = norm(rest.slice(1));
    if (target.includes('%')) {
      w.unfollowed.push(term);
      continue;
    }
    // include's result counts only when the included record passes, and only as its qualifier says
    const passes = passing && qualifier === '+';
    if (passes) w.authorised.add(target);
    await walk(w, await targetRecord(w, term, target), target, passes);
  }
  if (redirect === undefined) return undefined;
  const term = `redirect=${redirect}`;
  countLookup(w, term);
  const target = norm(redirect);
  if (target.includes('%')) {
    w.unfollowed.push(term);
    return undefined;
  }
  if (passing) w.authorised.add(target);
  return walk(w, await targetRecord(w, term, target), target, passing);
}

/** The SPF policy of `domain`, as a receiver would read it. */
export async function checkSpf(domain: string, lookup: TxtLookup): Promise<SpfCheck> {
  const d = norm(domain);
  let top: Selected;
  try {
    top = await selectSpf(d, lookup);
  } catch (err) {
    return { kind: 'temperror', domain: d, reason: (err as Error).message };
  }
  if (top.kind === 'none') return { kind: 'none', domain: d, nxdomain: top.nxdomain };
  if (top.kind === 'many')
    return {
      kind: 'permerror',
      domain: d,
      reason: `${d} has ${top.records.length} SPF records, and receivers take none of them`,
      records: top.records,
    };
  const w: Walk = { lookup, lookups: 0, authorised: new Set(), unfollowed: [] };
  try {
    const all = await walk(w, top.record, d, true);
    return {
      kind: 'found',
      domain: d,
      record: top.record,
      lookups: w.lookups,
      all,
      authorised: [...w.authorised],
      unfollowed: w.unfollowed,
    };
  } catch (err) {
    if (!(err instanceof SpfStop)) throw err;
    return err.kind === 'temperror'
      ? { kind: 'temperror', domain: d, reason: err.message }
      : { kind: 'permerror', domain: d, reason: err.message, records: [top.record] };
  }
}

/**
 * The record with `include:<include>` added: before its `all`, else before redirect= (which a
 * receiver follows only after every mechanism), else at its end; a new one ends in ~all.
 */
export function spfWithInclude(record: string | undefined, include: string): string {
  if (!record) return `v=spf1 include:${include} ~all`;
  const terms = record.trim().split(/\s+/);
  const all = terms.findIndex((t, i) => i > 0 && /^[+\-~?]?all$/i.test(t));
  const redirect = terms.findIndex((t, i) => i > 0 && /^redirect=/i.test(t));
  const at = all > 0 ? all : redirect > 0 ? redirect : terms.length;
  return [...terms.slice(0, at), `include:${include}`, ...terms.slice(at)].join(' ');
}

/** Several SPF records made one: their mechanisms in order, once each, the first `all` (or redirect=) to end it. */
export function mergeSpf(records: string[], include?: string): string {
  const terms: string[] = [];
  let end: string | undefined;
  for (const r of records) {
    for (const t of r.trim().split(/\s+/).slice(1)) {
      if (/^[+\-~?]?all$/i.test(t) || /^redirect=/i.test(t)) end ??= t;
      else if (!terms.some((x) => x.toLowerCase() === t.toLowerCase())) terms.push(t);
    }
  }
  const merged = ['v=spf1', ...terms, ...(end ? [end] : [])].join(' ');
  const includes = terms.map((t) => t.toLowerCase());
  return include && !includes.includes(`include:${include}`) && !includes.includes(`+include:${include}`)
    ? spfWithInclude(merged, include)
    : merged;
}

export type DmarcCheck =
  | {
      kind: 'found';
      domain: string;
      /** Where the record is: `_dmarc.<domain>`, or a parent's for a subdomain. */
      at: string;
      record: string;
      /** The policy for this domain: p=, or a parent's sp= (else p=). */
      policy: string;
      tags: Record<string, string>;
    }
  | { kind: 'none'; domain: string; tried: string[] }
  | { kind: 'invalid'; domain: string; at: string; reason: string }
  | { kind: 'failed'; domain: string; reason: string };

const isDmarc = (txt: string) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(txt.trim());

function dmarcTags(record: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return tags;
}

/** The domain, then its parents of two labels or more, at most 8 names (DMARCbis's tree walk, short of the TLD). */
export function dmarcCandidates(domain: string): string[] {
  const labels = norm(domain).split('.');
  const names: string[] = [];
  for (let i = 0; i <= labels.length - 2 && names.length < 8; i++) names.push(labels.slice(i).join('.'));
  return names.length ? names : [norm(domain)];
}

/** The DMARC policy that applies to mail with a header From at `domain`. */
export async function checkDmarc(domain: string, lookup: TxtLookup): Promise<DmarcCheck> {
  const d = norm(domain);
  const tried: string[] = [];
  for (const [i, name] of dmarcCandidates(d).entries()) {
    const at = `_dmarc.${name}`;
    tried.push(at);
    const answer: TxtAnswer = await lookup(at);
    if (answer.kind === 'failed') return { kind: 'failed', domain: d, reason: answer.message };
    const records = answer.kind === 'records' ? answer.records.filter(isDmarc) : [];
    if (records.length === 0) continue;
    if (records.length > 1)
      return { kind: 'invalid', domain: d, at, reason: `${at} has ${records.length} DMARC records, and receivers apply none of them` };
    const tags = dmarcTags(records[0]);
    const policy = i === 0 ? tags.p : (tags.sp ?? tags.p);
    if (!policy || !/^(none|quarantine|reject)$/i.test(policy))
      return {
        kind: 'invalid',
        domain: d,
        at,
        reason: `${at} has "${records[0].trim()}", whose p= is ${tags.p ? `"${tags.p}", not none, quarantine or reject` : 'missing'}`,
      };
    return { kind: 'found', domain: d, at, record: records[0].trim(), policy: policy.toLowerCase(), tags };
  }
  return { kind: 'none', domain: d, tried };
}

export interface SenderAuthFinding {
  level: 'warning' | 'info';
  code: string;
  message: string;
  /** A warning that fails the host when `senderAuthentication.check` is 'require'. */
  required?: boolean;
}

export interface SenderAuthInput {
  /** The envelope sender's domain (MAIL FROM): SPF's. */
  envelopeDomain: string;
  /** The header From's domain: DMARC's. */
  headerDomain: string;
  spf: SpfCheck;
  dmarc: DmarcCheck;
  /** The provider preset, when there is one: its name and the include(s) that authorise it. */
  provider?: { title: string; spfIncludes: string[] };
  /** The smart host, named where no provider says which include it needs. */
  smartHost: string;
}

const ALL_EFFECT: Record<Qualifier | 'none', string> = {
  '-': 'its -all tells receivers to reject mail from servers it does not name',
  '~': 'its ~all tells receivers to treat mail from servers it does not name as suspect (softfail)',
  '?': 'its ?all gives mail from servers it does not name no verdict (neutral)',
  '+': '',
  none: 'with no all, mail from servers it does not name gets no verdict (neutral)',
};

/** Domains that certainly are not aligned for DMARC: no common parent of two labels or more (relaxed alignment needs one organisational domain). */
function certainlyUnaligned(a: string, b: string): boolean {
  const x = norm(a).split('.').reverse();
  const y = norm(b).split('.').reverse();
  let common = 0;
  while (common < x.length && common < y.length && x[common] === y[common]) common++;
  return common < 2;
}

/** What to tell, and what to publish, for the sender domain's SPF and DMARC. */
export function judgeSenderAuth(input: SenderAuthInput): SenderAuthFinding[] {
  const { spf, dmarc, provider, envelopeDomain: envelope, headerDomain: header } = input;
  const findings: SenderAuthFinding[] = [];
  const want = provider?.spfIncludes[0];
  const who = provider ? provider.title : `the smart host ${input.smartHost}`;
  const warn = (code: string, message: string, required = true) => findings.push({ level: 'warning', code, message, required });
  // what a receiver does when SPF does not pass and no DKIM signature of the domain makes up for it
  const enforced =
    dmarc.kind === 'found' && dmarc.policy !== 'none'
      ? `; with DMARC's ${dmarc.policy === 'reject' ? 'p=reject' : 'p=quarantine'} for ${header}, mail that neither SPF nor a DKIM signature of ${header} authenticates is ${dmarc.policy === 'reject' ? 'rejected' : 'put in spam'}`
      : '';

  switch (spf.kind) {
    case 'none':
      if (spf.nxdomain) {
        warn(
          'sender-domain-missing',
          `the sender domain ${envelope} does not exist in DNS (NXDOMAIN): receivers refuse or junk mail from an address there; rewrite the sender to a domain of yours (masquerade: { as: 'example.org' }, or verify.from) and publish its SPF record`,
        );
        break;
      }
      warn(
        'sender-spf-missing',
        want
          ? `the sender domain ${envelope} has no SPF record, so receivers cannot tell that ${who} may send its mail${enforced}: add a TXT record at ${envelope}: ${spfWithInclude(undefined, want)}`
          : `the sender domain ${envelope} has no SPF record, so receivers cannot tell which servers may send its mail${enforced}: add a TXT record at ${envelope} naming the servers ${input.smartHost} sends from (v=spf1 include:<the one its operator names> ~all)`,
      );
      break;
    case 'temperror':
      warn('sender-spf-lookup-failed', `the SPF record of ${envelope} could not be read: ${spf.reason}`);
      break;
    case 'permerror':
      if (spf.records.length > 1)
        warn(
          'sender-spf-permerror',
          `${spf.reason} (a permanent error: most count it as failing): ${spf.records.map((r) => `"${r}"`).join(', ')}; publish one TXT record at ${envelope} instead: ${mergeSpf(spf.records, want)}`,
        );
      else
        warn(
          'sender-spf-permerror',
          `the SPF record of ${envelope} ("${spf.records[0]}") is broken: ${spf.reason}; receivers treat that as a permanent error, and most count it as failing`,
        );
      break;
    case 'found': {
      const all = spf.all;
      const unfollowed = spf.unfollowed.length
        ? `; ${spf.unfollowed.join(', ')} has macros, which only a receiver expands: not followed`
        : '';
      const authorised = provider?.spfIncludes.find((inc) => spf.authorised.includes(inc));
      if (all === '+')
        warn(
          'sender-spf-pass-all',
          `the SPF record of ${envelope} ends in +all: every server on the internet may send as ${envelope}; end it with ~all or -all once it names its senders`,
          false,
        );
      if (provider && !authorised && all !== '+') {
        const fixed = spfWithInclude(spf.record, want!);
        const over =
          spf.lookups + 1 > SPF_LOOKUP_LIMIT
            ? `; it would then need more than ${SPF_LOOKUP_LIMIT} DNS lookups: replace an include with the ip4:/ip6: ranges it names`
            : '';
        warn(
          'sender-spf-provider-missing',
          `the SPF record of ${envelope} does not authorise ${who} (no include:${provider.spfIncludes.join(' or include:')}): ${ALL_EFFECT[all ?? 'none']}${enforced}; replace the TXT record at ${envelope} ("${spf.record}") with: ${fixed}${over}${unfollowed}`,
        );
      } else {
        const lookups = `${spf.lookups} of ${SPF_LOOKUP_LIMIT} DNS lookups`;
        findings.push({
          level: 'info',
          code: 'sender-spf',
          message: provider
            ? `SPF of ${envelope} authorises ${who}${authorised ? ` (include:${authorised})` : ''}: "${spf.record}", ${lookups}${unfollowed}`
            : `SPF of ${envelope}: "${spf.record}", ${lookups} (with no provider named, which servers ${input.smartHost} sends from is not checked)${unfollowed}`,
        });
      }
      break;
    }
  }

  // a sender domain that does not exist has no DMARC either: the warning above says what to do
  if (spf.kind === 'none' && spf.nxdomain && norm(header) === norm(envelope)) return findings;
  const suggestion = `v=DMARC1; p=none; rua=mailto:postmaster@${norm(header)}`;
  switch (dmarc.kind) {
    case 'none':
      warn(
        'sender-dmarc-missing',
        `no DMARC record for ${dmarc.domain} (looked up ${dmarc.tried.join(', ')}): receivers such as Gmail and Yahoo ask senders for one; add a TXT record at _dmarc.${dmarc.domain}: ${suggestion}`,
      );
      break;
    case 'invalid':
      warn(
        'sender-dmarc-invalid',
        `the DMARC record of ${dmarc.domain} is not usable: ${dmarc.reason}; publish one, such as: ${suggestion}`,
      );
      break;
    case 'failed':
      warn('sender-dmarc-lookup-failed', `the DMARC record of ${dmarc.domain} could not be read: ${dmarc.reason}`);
      break;
    case 'found':
      findings.push({
        level: 'info',
        code: 'sender-dmarc',
        message:
          dmarc.at === `_dmarc.${dmarc.domain}`
            ? `DMARC of ${dmarc.domain}: p=${dmarc.policy} ("${dmarc.record}")`
            : `DMARC of ${dmarc.domain}: ${dmarc.tags.sp ? `sp=${dmarc.policy}` : `p=${dmarc.policy}`} of ${dmarc.at} applies ("${dmarc.record}")`,
      });
      break;
  }
  if (certainlyUnaligned(envelope, header))
    warn(
      'sender-dmarc-unaligned',
      `the envelope sender's domain ${envelope} (SPF's) and the header From's ${header} (DMARC's) belong to different domains: SPF passing for ${envelope} does not count for DMARC, which then needs a DKIM signature of ${header}; rewrite the envelope too (masquerade.envelope: true)`,
    );
  return findings;
}
