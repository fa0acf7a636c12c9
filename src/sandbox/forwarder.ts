// The sandbox's one forwarder: a port on this machine's 127.0.0.1 for every host, each connection piped
// to that host's ssh.sock (the unix socket its namespace offers; see HOST_START in boot.ts).
//
// One process for the whole sandbox instead of a socat per host (and a forked socat per connection):
// at 200 hosts those took 154 MB PSS (913 MB RSS) idle, more under load. Each port is bound as port 0,
// so the OS picks it and it is held from that moment: no port is ever chosen and then lost to a race.
// Every connection sets nodelay on its TCP side: a relay writes what it read in pieces, and Nagle
// would hold a second piece until the delayed ACK (40 ms), on every SSH round trip.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SandboxError } from '../errors.ts';

export interface ForwardTarget {
  name: string;
  /** The host's ssh.sock */
  socket: string;
}

/** What the forwarder daemon reads (forwarder.json in the sandbox's folder). */
export interface ForwarderConfig {
  hosts: ForwardTarget[];
  /** Written (atomically) once every port listens: host name -> port */
  portsFile: string;
  /** Written after the ports file: the daemon is ready */
  pidFile: string;
}

export interface Forwarder {
  /** host name -> port on 127.0.0.1 */
  ports: Record<string, number>;
  /**
   * Fault injection: drops the host's open connections, and refuses new ones until `untilMs` (a
   * connection accepted then is closed at once, as a link that is down).
   */
  cut(name: string, untilMs: number): void;
  close(): Promise<void>;
}

/** Beside the daemon's config (forwarder.json): the cuts file `cutConnection` writes before it signals the daemon. */
export const cutsFile = (configPath: string) => `${configPath.replace(/\.json$/, '')}-cuts.json`;

/** What `cutConnection` writes for the forwarder daemon before it signals it (SIGUSR2). */
export interface ForwarderCuts {
  seq: number;
  /** host name -> refused until (ms since the epoch) */
  cuts: Record<string, number>;
}

/** Pipes one accepted connection to a unix socket, both ways; either side's end or error ends both. */
export function pipeTo(client: Socket, socketPath: string, onError: (err: Error) => void = () => {}): Socket {
  client.setNoDelay(true);
  const upstream = connect({ path: socketPath, allowHalfOpen: true });
  const fail = (err: Error) => {
    onError(err);
    client.destroy();
    upstream.destroy();
  };
  client.on('error', fail);
  upstream.on('error', fail);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
  return upstream;
}

/** One host's port: its open connections, and until when it refuses new ones (a cut). */
interface HostPort {
  open: Set<Socket>;
  refuseUntil: number;
}

function listen(target: ForwardTarget, port: HostPort, onError: (err: Error) => void): Promise<Server> {
  return new Promise((res, rej) => {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
      if (Date.now() < port.refuseUntil) return void client.destroy();
      port.open.add(client);
      client.once('close', () => port.open.delete(client));
      pipeTo(client, target.socket, onError);
    });
    server.once('error', rej);
    // a large backlog: a run over 1,000 hosts opens 1,000 connections at once, several per host
    server.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, () => {
      server.off('error', rej);
      server.on('error', onError);
      res(server);
    });
  });
}

/** Listens on a port of its own for every host (port 0: the OS's choice, held from then on). */
export async function startForwarder(hosts: ForwardTarget[], onError: (err: Error) => void = () => {}): Promise<Forwarder> {
  const servers: Server[] = [];
  const byName = new Map(hosts.map((h) => [h.name, { open: new Set<Socket>(), refuseUntil: 0 }]));
  try {
    for (const h of hosts) servers.push(await listen(h, byName.get(h.name)!, onError));
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw err;
  }
  const ports = Object.fromEntries(hosts.map((h, i) => [h.name, (servers[i].address() as { port: number }).port]));
  checkPorts(
    hosts.map((h) => h.name),
    ports,
  );
  return {
    ports,
    cut(name, untilMs) {
      const port = byName.get(name);
      if (!port) return;
      port.refuseUntil = untilMs;
      for (const c of port.open) c.destroy();
    },
    close: async () => {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/**
 * Checks a port map the forwarder reported: one port for each host named, each a valid port, no
 * two hosts sharing one. Returns it typed; throws a SandboxError naming what is wrong.
 */
export function checkPorts(names: string[], ports: unknown): Record<string, number> {
  if (typeof ports !== 'object' || ports === null || Array.isArray(ports)) throw new SandboxError('the forwarder reported no port map');
  const map = ports as Record<string, unknown>;
  const missing = names.filter((n) => !(n in map));
  if (missing.length) throw new SandboxError(`the forwarder reported no port for ${missing.join(', ')}`);
  const known = new Set(names);
  const extra = Object.keys(map).filter((n) => !known.has(n));
  if (extra.length) throw new SandboxError(`the forwarder reported ports for hosts it was not given: ${extra.join(', ')}`);
  const owner = new Map<number, string>();
  for (const n of names) {
    const p = map[n];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535)
      throw new SandboxError(`the forwarder reported port ${String(p)} for ${n}`);
    const other = owner.get(p);
    if (other) throw new SandboxError(`the forwarder reported port ${p} for both ${other} and ${n}`);
    owner.set(p, n);
  }
  return map as Record<string, number>;
}
