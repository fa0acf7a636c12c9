// TXT lookups from the controller (the sender domain's SPF and DMARC records): Node's resolver,
// asking the servers the settings name, else MAILPROV_DNS_SERVERS, else the system's
// (/etc/resolv.conf). A failed lookup is an answer with its cause, never an exception: NXDOMAIN,
// a timeout, SERVFAIL and REFUSED each read differently to the person fixing them.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { OperationError } from 'mailprov';

/** What a TXT lookup found: each record's strings joined (RFC 7208 3.3), none, or why it failed. */
export type TxtAnswer =
  | { kind: 'records'; records: string[] }
  /** The name does not exist (NXDOMAIN); a name that exists with no TXT record is `records: []`. */
  | { kind: 'nxdomain' }
  | { kind: 'failed'; cause: 'timeout' | 'servfail' | 'refused' | 'unreachable' | 'other'; message: string };

export type TxtLookup = (name: string) => Promise<TxtAnswer>;

/** The controller's DNS servers when the settings name none (`127.0.0.1:5353,[::1]:53`). */
export const DNS_SERVERS_ENV = 'MAILPROV_DNS_SERVERS';

/** A DNS server as Node's resolver takes it: `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53`, `[2001:db8::53]:5353`. */
export function isDnsServer(s: string): boolean {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
  if (bracketed) return isIP(bracketed[1]) === 6 && Number(bracketed[2]) <= 65535;
  const v4port = /^([\d.]+):(\d{1,5})$/.exec(s);
  if (v4port) return isIP(v4port[1]) === 4 && Number(v4port[2]) <= 65535;
  return isIP(s) !== 0;
}

/** The servers to ask: the settings', else the environment's, else none (the system's). */
export function dnsServersFrom(settings: string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (settings?.length) return settings;
  const fromEnv = env[DNS_SERVERS_ENV]
    ?.split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (!fromEnv?.length) return undefined;
  const wrong = fromEnv.filter((s) => !isDnsServer(s));
  if (wrong.length)
    throw new OperationError(
      `${DNS_SERVERS_ENV}: ${wrong.map((w) => `"${w}"`).join(', ')} is no DNS server address (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:5353)`,
    );
  return fromEnv;
}

export interface TxtLookupOptions {
  /** The servers to ask; the system's when absent. */
  servers?: string[];
  /** How long the first try waits for an answer (c-ares waits longer at each next one). */
  timeoutMs?: number;
  /** How many times each server is asked. */
  tries?: number;
}

/** A TXT lookup through Node's resolver (c-ares: UDP, TCP when an answer is truncated). */
export function resolverTxtLookup(opts: TxtLookupOptions = {}): TxtLookup {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const tries = opts.tries ?? 2;
  const resolver = new Resolver({ timeout: timeoutMs, tries });
  if (opts.servers?.length) resolver.setServers(opts.servers);
  const servers = resolver.getServers();
  const asked = servers.length ? servers.join(', ') : 'the system resolver';
  return async (name) => {
    const started = Date.now();
    try {
      return { kind: 'records', records: (await resolver.resolveTxt(name)).map((chunks) => chunks.join('')) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      switch (e.code) {
        case 'ENOTFOUND':
          return { kind: 'nxdomain' };
        case 'ENODATA':
          return { kind: 'records', records: [] };
        case 'ETIMEOUT':
          return {
            kind: 'failed',
            cause: 'timeout',
            // c-ares waits longer at each try: the time it took is what the person waited
            message: `no answer from ${asked} for ${name} (TXT), asked ${tries === 1 ? 'once' : `${tries} times`} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
          };
        case 'ESERVFAIL':
          return {
            kind: 'failed',
            cause: 'servfail',
            message: `${asked} answered SERVFAIL for ${name} (TXT): the domain's name servers could not be asked, or its DNSSEC does not validate`,
          };
        case 'EREFUSED':
          return { kind: 'failed', cause: 'refused', message: `${asked} refused to answer for ${name} (TXT): REFUSED` };
        case 'ECONNREFUSED':
          return { kind: 'failed', cause: 'unreachable', message: `nothing answers DNS at ${asked} (connection refused)` };
        default:
          return {
            kind: 'failed',
            cause: 'other',
            message: `the lookup of ${name} (TXT) at ${asked} failed: ${e.code ?? ''} ${e.message}`.trim(),
          };
      }
    }
  };
}
