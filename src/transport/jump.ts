// Jump hosts as OpenSSH writes them (ProxyJump, ssh -J): `[user@]host[:port]` or
// `ssh://[user@]host[:port]`, comma separated, first hop first; `none` for no jump. An IPv6 address
// with a port is written in brackets: `[fd00::5]:2222`.
import { MailprovError } from '../errors.ts';

export interface JumpHop {
  /** As written, for messages. */
  spec: string;
  user?: string;
  host: string;
  port?: number;
}

/** Parses a jump specification; throws a MailprovError saying what is wrong with it. */
export function parseJumpSpec(spec: string): JumpHop[] {
  const text = spec.trim();
  if (text.toLowerCase() === 'none') return [];
  return text.split(',').map((raw) => parseHop(raw.trim(), spec));
}

function parseHop(raw: string, spec: string): JumpHop {
  const bad = (why: string) => new MailprovError(`jump host "${raw}" in "${spec}": ${why}`);
  if (raw === '') throw bad('empty (two commas, or one at an end)');
  let rest = raw.startsWith('ssh://') ? raw.slice('ssh://'.length).replace(/\/$/, '') : raw;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === '') throw bad('no user before @');
  }
  let host = rest;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    [, host, portText] = bracketed;
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [host, portText] = rest.split(':');
  }
  if (host === '' || /[\s/@]/.test(host)) throw bad('expected [user@]host[:port]');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw bad(`"${portText}" is not a port number`);
  }
  return { spec: raw, host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
}
