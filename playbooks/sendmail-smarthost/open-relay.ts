// Proof that the relay is not open, after a changing apply, without an SMTP connection: sendmail's
// own rules (the live sendmail.cf and access.db, in address test mode) must refuse a client outside
// relayFrom that relays to an outside recipient, and let a client inside each relayFrom network
// relay. Also what a relayFrom entry means, for the lint.
import { OperationError, redact, shellQuote, type VerifyContext } from 'mailprov';
import type { SendmailSettings } from './settings.ts';

const SENDMAIL = '/usr/sbin/sendmail';

/** A relayFrom entry as sendmail's access map reads it: an octet prefix, an IPv6 group prefix or address, or a domain. */
export type RelayNet =
  | { kind: 'ipv4'; octets: number[] }
  | { kind: 'ipv6'; groups: number[]; host: boolean }
  | { kind: 'name'; name: string };

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

// access matches Connect: keys by dropping trailing octets or groups of the client's address, as
// text: an entry only matches when written the way sendmail writes that address.
function parseIpv4(entry: string): RelayNet | { error: string } {
  const parts = entry.split('.');
  if (parts.length > 4) return { error: `${parts.length} octets, where an IPv4 network has at most 4` };
  if (parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p))) {
    return { error: 'an octet is empty or written with a leading zero (sendmail compares addresses as text: 10.1, not 010.1)' };
  }
  const octets = parts.map(Number);
  if (octets.some((o) => o > 255)) return { error: 'an octet is over 255' };
  if (octets[0] === 0) return { error: 'no client comes from 0.x ("this network"): the entry names no network' };
  return { kind: 'ipv4', octets };
}

function parseIpv6(text: string): RelayNet | { error: string } {
  if (text === '') return { error: 'nothing after IPv6:' };
  if (/[^0-9A-Fa-f:]/.test(text)) return { error: 'IPv6 groups are hex digits between colons (no dotted IPv4 part, no /length)' };
  const halves = text.split('::');
  if (halves.length > 2) return { error: 'more than one ::' };
  const split = (s: string) => (s === '' ? [] : s.split(':'));
  const [head, tail] = [split(halves[0]), split(halves[1] ?? '')];
  const all = [...head, ...tail];
  if (all.some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g))) return { error: 'an empty group, or one of more than 4 hex digits' };
  if (all.some((g) => /^0./.test(g))) {
    return {
      error: 'a group written with leading zeros never matches: sendmail writes client addresses without them (2001:db8, not 2001:0db8)',
    };
  }
  const num = (gs: string[]) => gs.map((g) => Number.parseInt(g, 16));
  if (halves.length === 2) {
    if (all.length > 7) return { error: 'too many groups around ::' };
    const groups = [...num(head), ...Array(8 - all.length).fill(0), ...num(tail)];
    if (groups.every((g) => g === 0)) return { error: 'no client comes from :: (the unspecified address)' };
    return { kind: 'ipv6', groups, host: true };
  }
  if (all.length > 8) return { error: `${all.length} groups, where an IPv6 address has 8` };
  return { kind: 'ipv6', groups: num(all), host: all.length === 8 };
}

export function parseRelayNet(entry: string): RelayNet | { error: string } {
  if (entry === '') return { error: 'empty' };
  if (entry.startsWith('IPv6:')) return parseIpv6(entry.slice(5));
  if (/^[0-9.]+$/.test(entry)) return parseIpv4(entry);
  if (!HOST_NAME.test(entry) || /^[0-9]+$/.test(entry.split('.').pop() ?? '')) {
    return { error: 'neither an IPv4 network (192.168, 10.0.0.5), an IPv6 one (IPv6:2001:db8) nor a domain' };
  }
  // Connect:com would let every client whose reverse DNS ends in .com relay
  if (!entry.includes('.') && entry.toLowerCase() !== 'localhost') return { error: 'a single label is a whole top-level domain' };
  return { kind: 'name', name: entry.toLowerCase() };
}

const v4 = (octets: number[]) => octets.reduce((n, o, i) => n | (BigInt(o) << BigInt(24 - 8 * i)), 0n);
const v6 = (groups: number[]) => groups.reduce((n, g, i) => n | (BigInt(g) << BigInt(112 - 16 * i)), 0n);

/** [network, prefix length] of the private, link-local and loopback ranges. */
const PRIVATE_V4: [bigint, number][] = [
  [v4([10]), 8],
  [v4([172, 16]), 12],
  [v4([192, 168]), 16],
  [v4([127]), 8],
  [v4([169, 254]), 16],
];
const PRIVATE_V6: [bigint, number][] = [
  [v6([0xfc00]), 7],
  [v6([0xfe80]), 10],
  [v6([0, 0, 0, 0, 0, 0, 0, 1]), 128],
];

/** Whether the network (value/length, of width bits) lies inside the range. */
function within(value: bigint, length: number, width: number, [net, len]: [bigint, number]): boolean {
  const shift = BigInt(width - len);
  return length >= len && value >> shift === net >> shift;
}

/**
 * Whether an entry stays inside a private range. A domain never provably does: any client whose
 * (forward-confirmed) reverse DNS is under it may relay, wherever on the Internet it is.
 */
export function isPrivateNet(net: RelayNet): boolean {
  if (net.kind === 'ipv4') return PRIVATE_V4.some((r) => within(v4(net.octets), 8 * net.octets.length, 32, r));
  if (net.kind === 'ipv6') return PRIVATE_V6.some((r) => within(v6(net.groups), net.host ? 128 : 16 * net.groups.length, 128, r));
  return net.name === 'localhost' || net.name === 'localhost.localdomain';
}

/** An IPv6 {client_addr} both ways sendmail writes it: in full (built with IPV6_FULL, as 8.17 on Debian 12 is) or compressed (inet_ntop). */
export interface Ipv6Addr {
  full: string;
  short: string;
}

export function ipv6Addr(groups: number[]): Ipv6Addr {
  const hex = groups.map((g) => g.toString(16));
  // the first longest run of two or more zero groups becomes ::
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j + 1;
  }
  const short = best.at < 0 ? hex.join(':') : `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
  return { full: `IPv6:${hex.join(':')}`, short: `IPv6:${short}` };
}

/** One client address inside the entry: 192.168 -> 192.168.0.1, 10.0.0.5 -> 10.0.0.5, IPv6:fd00 -> fd00:1:0:0:0:0:0:0. */
export function insideAddress(net: RelayNet): string | Ipv6Addr | undefined {
  if (net.kind === 'ipv4') return [...net.octets, ...Array(3 - Math.min(3, net.octets.length)).fill(0), 1].slice(0, 4).join('.');
  // a non-zero group right after the prefix, so that sendmail writes the prefix's own groups as they are
  if (net.kind === 'ipv6') return ipv6Addr(net.host ? net.groups : [...net.groups, 1, 0, 0, 0, 0, 0, 0, 0].slice(0, 8));
  return undefined;
}

const covers4 = (net: RelayNet, octets: number[]) => net.kind === 'ipv4' && net.octets.every((o, i) => o === octets[i]);
const covers6 = (net: RelayNet, groups: number[]) => net.kind === 'ipv6' && net.groups.every((g, i) => g === groups[i]);

/** An IPv4 client outside every entry: TEST-NET first (198.51.100.7), so that no real host is named. */
export function outsideIpv4(nets: RelayNet[]): string | undefined {
  const testNets = [
    [198, 51, 100, 7],
    [203, 0, 113, 7],
    [192, 0, 2, 7],
  ];
  const others = Array.from({ length: 223 }, (_, i) => [i + 1, 51, 100, 7]).filter((c) => !isPrivateNet({ kind: 'ipv4', octets: c }));
  return [...testNets, ...others].find((c) => !nets.some((n) => covers4(n, c)))?.join('.');
}

/** An IPv6 client outside every entry, in the documentation prefix 2001:db8::/32 if it can. */
export function outsideIpv6(nets: RelayNet[]): Ipv6Addr | undefined {
  const candidates = Array.from({ length: 0x2000 }, (_, i) => [0x2001 + i, 0xdb8, 0, 0, 0, 0, 0, 7]);
  const found = candidates.find((c) => !nets.some((n) => covers6(n, c)));
  return found && ipv6Addr(found);
}

export interface RelayProbe {
  /** An insider (standing for its relayFrom entry) must be let through; an outsider must be refused. */
  inside: boolean;
  entry?: string;
  /** {client_addr} */
  addr: string | Ipv6Addr;
  /** {client_name}, resolved and forward-confirmed; without one the client has no PTR, as sendmail names it: [addr] */
  name?: string;
  /** The envelope sender ($f) and the RCPT TO address. */
  sender: string;
  recipient: string;
  /** The classic trick the recipient is written in (see relayTricks), if any. */
  trick?: string;
}

/**
 * The classic ways to write an outside recipient so that it looks local to a relay check that
 * reads only the last @: the %-hack, a quoted local part, a UUCP bang path, a source route. `relay`
 * is a name of the host itself. Each must be refused from outside relayFrom as the plain one is.
 */
export function relayTricks(user: string, domain: string, relay: string): { trick: string; recipient: string }[] {
  return [
    { trick: 'user%host@relay', recipient: `${user}%${domain}@${relay}` },
    { trick: '"user@host"@relay', recipient: `"${user}@${domain}"@${relay}` },
    { trick: 'host!user', recipient: `${domain}!${user}` },
    { trick: '@relay:user@host', recipient: `@${relay}:${user}@${domain}` },
  ];
}

// already in access (renderAccess); 127.0.0.1 is always tried
const LOOPBACK = ['127.0.0.1', 'localhost', 'localhost.localdomain'];

const under = (name: string, domain: string) => name === domain || name.endsWith(`.${domain}`);

/**
 * The clients to try. The outsider gets what an attacker can have: a reverse DNS name that
 * resolves, and a local sender (relay_local_from trusts it, and anyone can write it). Insiders get
 * the least: no reverse DNS and a foreign sender, so only their relayFrom entry can let them relay.
 */
export function relayProbes(settings: SendmailSettings): RelayProbe[] {
  const local = settings.localDomain?.toLowerCase();
  const entries = [...new Set(settings.relayFrom)].filter((e) => !LOOPBACK.includes(e.toLowerCase()));
  const nets = entries.flatMap((entry) => {
    const net = parseRelayNet(entry);
    return 'error' in net ? [] : [{ entry, net }]; // the lint refuses the others before connecting
  });
  const domains = nets.flatMap(({ net }) => (net.kind === 'name' ? [net.name] : []));
  // class w (the host's own names) matches whole names; access and class R match subdomains too
  const recipientDomain = ['example.org', 'example.net', 'example.com'].find((d) => d !== local) as string;
  const names = ['example.net', 'example.com', 'example.org', 'invalid'].map((d) => `relay-probe.${d}`);
  const outsideName = names.find((n) => n !== local && !domains.some((d) => under(n, d))) ?? (names.at(-1) as string);
  const recipient = `relay-probe@${recipientDomain}`;
  const outsider = { inside: false, name: outsideName, sender: 'root@localhost', recipient };
  const insider = { inside: true, sender: `relay-probe@${outsideName}`, recipient };
  const addr4 = outsideIpv4(nets.map((n) => n.net));
  const addr6 = outsideIpv6(nets.map((n) => n.net));
  const probes: RelayProbe[] = [];
  if (addr4) probes.push({ ...outsider, addr: addr4 });
  // an IPv6 daemon takes IPv6 clients, whom IPv6 entries let in
  if (addr6 && settings.listen.some((a) => a.includes(':'))) probes.push({ ...outsider, addr: addr6 });
  probes.push({ ...insider, entry: '127.0.0.1', addr: '127.0.0.1' });
  for (const { entry, net } of nets) {
    const addr = insideAddress(net);
    if (addr) probes.push({ ...insider, entry, addr });
    // a client named under the domain, from an address outside every entry
    else if (net.kind === 'name' && addr4) probes.push({ ...insider, entry, addr: addr4, name: `relay-probe.${net.name}` });
  }
  return probes;
}

/**
 * The first outsider of relayProbes again, with the recipient written each tricky way (relayTricks)
 * to a name of this very host (`host.fqdn`, else localhost): every one must be refused too.
 */
export function relayTrickProbes(settings: SendmailSettings, host: { fqdn?: string } = {}): RelayProbe[] {
  const outsider = relayProbes(settings).find((p) => !p.inside);
  if (!outsider) return []; // relayFrom covers every address: the judge says so without tricks
  const domain = outsider.recipient.slice(outsider.recipient.indexOf('@') + 1);
  return relayTricks('relay-probe', domain, host.fqdn ?? 'localhost').map((t) => ({ ...outsider, ...t }));
}

/** Every probe the post-apply check sends: relayProbes, then relayTrickProbes. */
export function allRelayProbes(settings: SendmailSettings, host: { fqdn?: string } = {}): RelayProbe[] {
  return [...relayProbes(settings), ...relayTrickProbes(settings, host)];
}

/**
 * One remote command: per probe a `sendmail -bt` session that sets the macros check_rcpt reads
 * ({client_addr}, {client_name}, {client_resolve}, no AUTH, no verified client certificate, the
 * sender) and runs check_rcpt on the recipient, after a marker line naming the address used.
 */
export function relayProbeScript(probes: RelayProbe[], sendmail = SENDMAIL): string {
  const q = shellQuote;
  const lines: string[] = [];
  if (probes.some((p) => typeof p.addr !== 'string')) {
    lines.push(`if ${sendmail} -d0.1 -bt </dev/null 2>/dev/null | grep -qw IPV6_FULL; then v6=full; else v6=short; fi`);
  }
  probes.forEach((p, i) => {
    lines.push(
      typeof p.addr === 'string' ? `a=${q(p.addr)}` : `if [ "$v6" = full ]; then a=${q(p.addr.full)}; else a=${q(p.addr.short)}; fi`,
    );
    const name = p.name === undefined ? '".D{client_name}[$a]"' : q(`.D{client_name}${p.name}`);
    const input = [
      q(`.Df${p.sender}`),
      '".D{client_addr}$a"',
      name,
      q(`.D{client_resolve}${p.name === undefined ? 'FAIL' : 'OK'}`),
      q('.D{auth_type}'),
      q('.D{verify}'),
      q(`check_rcpt <${p.recipient}>`),
    ];
    // -bt ends on a prompt without a line break: the marker starts a line of its own
    lines.push(`printf '\\n@@probe %s %s\\n' ${i} "$a"`, `printf '%s\\n' ${input.join(' ')} | ${sendmail} -bt 2>&1`);
  });
  return lines.join('\n');
}

export type Verdict = 'accepted' | 'refused' | 'tempfail' | 'discarded' | 'unknown';

export interface ProbeResult {
  probe: RelayProbe;
  /** The {client_addr} the host used. */
  addr: string;
  /** What check_rcpt returned, tokens as -bt prints them ("$# error $@ 5 . 7 . 1 $: ..."). */
  returned?: string;
  verdict: Verdict;
  /** The session's output, for evidence when there is no answer. */
  output: string;
}

/** A permanent error refuses; a temporary one only delays; anything else (RELAY, OK, the address itself) lets the mail in. */
export function verdictOf(returned: string | undefined): Verdict {
  if (returned === undefined) return 'unknown';
  const r = returned.trim();
  if (/^\$#\s*discard\b/i.test(r)) return 'discarded';
  if (!/^\$#\s*(error|TEMP)\b/i.test(r)) return 'accepted';
  const status = /\$@\s*([245])\s*\./.exec(r)?.[1] ?? /\$:\s*"?([245])\d\d/.exec(r)?.[1];
  return /^\$#\s*TEMP/i.test(r) || status === '4' ? 'tempfail' : 'refused';
}

/** Splits the script's output at its markers; a probe without a section gets the command's stderr as its output. */
export function parseRelayProbes(output: string, probes: RelayProbe[], stderr = ''): ProbeResult[] {
  const sections = new Map<number, { addr: string; text: string }>();
  const markers = [...output.matchAll(/^@@probe (\d+) (.*)$/gm)];
  markers.forEach((m, k) => {
    const end = markers[k + 1]?.index ?? output.length;
    sections.set(Number(m[1]), { addr: m[2], text: output.slice((m.index ?? 0) + m[0].length, end) });
  });
  return probes.map((probe, i) => {
    const s = sections.get(i);
    const fallback = typeof probe.addr === 'string' ? probe.addr : probe.addr.full;
    // the top-level ruleset's answer; -bt prefixes lines with its prompt "> "
    const returned = [...(s?.text ?? '').matchAll(/^(?:> )*check_rcpt\s+returns: (.*)$/gm)].pop()?.[1];
    return { probe, addr: s?.addr || fallback, returned, verdict: verdictOf(returned), output: s?.text ?? stderr };
  });
}

/** "$# error $@ 5 . 7 . 1 $: "550 Relaying denied"" -> 5.7.1 "550 Relaying denied". */
export function describeReturn(returned: string): string {
  const r = returned.trim().replace(/ ([.:]) /g, '$1');
  const error = /^\$#\s*\S+\s*\$@\s*(\S+)\s*\$:\s*(.*)$/.exec(r);
  return error ? `${error[1]} ${error[2]}` : r;
}

function who(r: ProbeResult): string {
  const p = r.probe;
  const name = p.name ? `named ${p.name}` : 'without reverse DNS';
  const trick = p.trick ? `, recipient written as ${p.trick}` : '';
  return `a client at ${r.addr} (${name}, ${p.inside ? `inside relayFrom ${p.entry}` : 'outside relayFrom'}, sender ${p.sender}${trick})`;
}

export function probeEvidence(r: ProbeResult): string {
  const answer = r.returned === undefined ? 'no answer' : describeReturn(r.returned);
  return `  ${who(r)}: check_rcpt <${r.probe.recipient}> -> ${r.verdict}: ${answer}`;
}

/** Throws unless every outsider is refused and every insider let through; says what it proved. */
export function judgeRelayProbes(results: ProbeResult[]): string {
  const evidence = results.map(probeEvidence);
  const raw = (r: ProbeResult) =>
    redact(r.output)
      .trim()
      .split('\n')
      .slice(-8)
      .map((l) => `    ${l}`);
  const outsiders = results.filter((r) => !r.probe.inside);
  if (!outsiders.length)
    throw new OperationError('verification failed: sendmail is an open relay: relayFrom covers every client address', evidence);
  const open = outsiders.find((r) => r.verdict === 'accepted');
  if (open) {
    throw new OperationError(`verification failed: sendmail is an open relay: ${who(open)} may relay to ${open.probe.recipient}`, evidence);
  }
  const unproven = outsiders.find((r) => r.verdict !== 'refused');
  if (unproven) {
    throw new OperationError(
      `verification failed: cannot prove sendmail is not an open relay: check_rcpt ${unproven.returned === undefined ? 'gave no answer' : `answers ${describeReturn(unproven.returned)}`} for ${who(unproven)}`,
      [...evidence, ...raw(unproven)],
    );
  }
  const shut = results.find((r) => r.probe.inside && r.verdict !== 'accepted');
  if (shut) {
    const answer = shut.returned === undefined ? 'no answer' : describeReturn(shut.returned);
    throw new OperationError(
      `verification failed: relayFrom ${shut.probe.entry} does not work: sendmail refuses ${who(shut)} relaying to ${shut.probe.recipient} (${answer})`,
      shut.returned === undefined ? [...evidence, ...raw(shut)] : evidence,
    );
  }
  const plain = outsiders.filter((r) => !r.probe.trick);
  const refused = plain.map((r) => `${r.addr} (${describeReturn(r.returned ?? '')})`).join(', ');
  const tricks = outsiders.filter((r) => r.probe.trick).map((r) => r.probe.recipient);
  const also = tricks.length ? `; and written as ${tricks.join(', ')}` : '';
  const inside = results.filter((r) => r.probe.inside).map((r) => (r.probe.name ? r.probe.name : r.addr));
  return `not an open relay: sendmail refuses clients outside relayFrom relaying to ${(plain[0] ?? outsiders[0]).probe.recipient}: ${refused}${also}; lets clients inside relay: ${inside.join(', ')}`;
}

/** The check, as one remote command; throws OperationError with each probe's answer as evidence. */
export async function checkNotOpenRelay(
  exec: VerifyContext['exec'],
  settings: SendmailSettings,
  log: (line: string) => void,
  host: { fqdn?: string } = {},
): Promise<void> {
  const probes = allRelayProbes(settings, host);
  const r = await exec(relayProbeScript(probes));
  log(judgeRelayProbes(parseRelayProbes(r.stdout, probes, r.stderr)));
}
