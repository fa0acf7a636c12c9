// How the sandbox's hosts are reached: the layout of private hosts behind jump hosts (and the chain
// to each), the LAN they share, and the forwarder that gives every other host a port on 127.0.0.1.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { daemon, nodeDaemon } from './daemon.ts';
import { checkPorts, type ForwarderConfig } from './forwarder.ts';
import { BRIDGE_START, CLIENT_START, LAN_CLIENTS, LAN_NETWORK, LAN_OFFICE_NETWORK, type LanClientName } from './lan.ts';
import { isRunning, type RecordedProcess } from './processes.ts';
import { type SandboxHost, type SandboxState, writeState } from './state.ts';
import { waitForFile } from './wait.ts';

/** Checks UpOptions.private against the hosts wanted; returns each private host's reachers. */
export function privateLayout(wanted: Record<string, string[]> | undefined, names: string[]): Map<string, string[]> {
  const layout = new Map(Object.entries(wanted ?? {}));
  for (const [name, from] of layout) {
    if (!names.includes(name)) throw new SandboxError(`private: ${name} is not one of the sandbox's hosts (${names.join(', ')})`);
    if (!from.length) throw new SandboxError(`private: ${name} must be reachable from at least one host`);
    for (const r of from)
      if (!names.includes(r) || r === name)
        throw new SandboxError(`private: ${name} cannot be reached from ${r} (another host of the sandbox)`);
  }
  if (layout.size > 250) throw new SandboxError('private: at most 250 private hosts');
  const depth = jumpDepths(names.map((name) => ({ name, reachableFrom: layout.get(name) })));
  const cut = names.filter((n) => depth.get(n) === undefined);
  if (cut.length) throw new SandboxError(`private: ${cut.join(', ')} cannot be reached from any host with a port here`);
  return layout;
}

/** How many jumps away each host is (0: a port here); a host no chain reaches has none. */
function jumpDepths(hosts: Pick<SandboxHost, 'name' | 'reachableFrom'>[]): Map<string, number> {
  const depth = new Map(hosts.filter((h) => !h.reachableFrom).map((h) => [h.name, 0]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const h of hosts) {
      const via = (h.reachableFrom ?? []).map((r) => depth.get(r)).filter((d) => d !== undefined);
      if (!h.reachableFrom || !via.length) continue;
      const d = Math.min(...via) + 1;
      if (d < (depth.get(h.name) ?? Number.POSITIVE_INFINITY)) {
        depth.set(h.name, d);
        changed = true;
      }
    }
  }
  return depth;
}

/**
 * The jump chain to a sandbox host, as `mailprov`'s `jump` (and ssh -J) take it: empty for a host
 * with a port here; for a private host, through a host that reaches it (one with a port first).
 */
export function sandboxJump(state: SandboxState, host: SandboxHost): string[] {
  if (!host.reachableFrom) return [];
  const depth = jumpDepths(state.hosts);
  const byName = new Map(state.hosts.map((h) => [h.name, h]));
  // the nearest host that reaches it: the shortest chain
  const via = host.reachableFrom
    .map((n) => byName.get(n)!)
    .reduce((a, b) => ((depth.get(b.name) ?? Number.POSITIVE_INFINITY) < (depth.get(a.name) ?? Number.POSITIVE_INFINITY) ? b : a));
  return [...sandboxJump(state, via), via.reachableFrom ? `root@${via.fqdn}` : `root@127.0.0.1:${via.port}`];
}

/** How an inventory names a sandbox host: address, port, and the jump hosts before it (if any). */
export function sandboxAddress(state: SandboxState, host: SandboxHost): { address: string; port: number; jump?: string } {
  if (!host.reachableFrom) return { address: '127.0.0.1', port: host.port };
  return { address: host.fqdn, port: host.port, jump: sandboxJump(state, host).join(',') };
}

/** The LAN's bridge and its two clients, each a namespace recorded like any process of the sandbox. */
export async function startLan(state: SandboxState): Promise<void> {
  const dir = join(state.dir, 'lan');
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'lan.log');
  const started = async (what: string, args: string[], ready: string): Promise<RecordedProcess> => {
    const p = await daemon(state, what, ['--net'], 'sh', ['-c', ...args], logFile);
    await waitForFile(ready, what, logFile);
    if (!p || !isRunning(p)) throw new SandboxError(`${what} exited at once:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    return p;
  };
  const bridge = await started('LAN bridge', [BRIDGE_START, 'mailprov-sandbox-lan', join(dir, 'bridge.ready')], join(dir, 'bridge.ready'));
  const client = async (name: LanClientName) => {
    const ready = join(dir, `${name}.ready`);
    const args = [CLIENT_START, `mailprov-sandbox-${name}`, String(bridge.pid), `c-${name}`, LAN_CLIENTS[name], ready];
    return { address: LAN_CLIENTS[name], process: await started(`LAN client ${name}`, args, ready) };
  };
  state.lan = {
    network: LAN_NETWORK,
    office: LAN_OFFICE_NETWORK,
    bridge,
    clients: { office: await client('office'), guest: await client('guest') },
  };
  writeState(state);
}

/**
 * The one forwarder of the sandbox (forwarder.ts): a port on 127.0.0.1 for each host with a port,
 * piped to its ssh.sock. It binds port 0 for each and reports the ports back, which become the hosts'.
 */
export async function startForwarder(state: SandboxState): Promise<void> {
  const hosts = state.hosts.filter((h) => !h.reachableFrom);
  if (!hosts.length) return;
  const config: ForwarderConfig = {
    hosts: hosts.map((h) => ({ name: h.name, socket: join(h.dir, 'ssh.sock') })),
    portsFile: join(state.dir, 'forwarder-ports.json'),
    pidFile: join(state.dir, 'forwarder.pid'),
  };
  const configPath = join(state.dir, 'forwarder.json');
  writeFileSync(configPath, JSON.stringify(config));
  const logFile = join(state.dir, 'forwarder.log');
  await nodeDaemon(state, 'forwarder', 'forwarder-daemon.ts', configPath, logFile);
  await waitForFile(config.pidFile, 'the forwarder', logFile);
  const ports = checkPorts(
    hosts.map((h) => h.name),
    JSON.parse(readFileSync(config.portsFile, 'utf8')),
  );
  for (const h of hosts) h.port = ports[h.name];
}
