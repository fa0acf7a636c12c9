// `mailprov sandbox up|status|down`.
import { SandboxError } from '../errors.ts';
import type { DebianRelease } from '../sandbox/base.ts';
import { LAN_CLIENTS, lanClientName, lanSubmit, type LanClientName, type SandboxLan } from '../sandbox/lan.ts';
import { cutConnection } from '../sandbox/cut.ts';
import { sandboxDown, sandboxStatus, sandboxUp } from '../sandbox/lifecycle.ts';
import { sandboxAddress } from '../sandbox/network.ts';
import { defaultStateDir, hostLabel, readState } from '../sandbox/state.ts';

const log = (line: string) => process.stderr.write(`sandbox: ${line}\n`);

export async function sandboxUpCommand(
  count: number,
  opts: { dir?: string; centos?: number; lan?: boolean; release?: DebianRelease; releaseOf?: Record<string, DebianRelease> },
): Promise<number> {
  if (count + (opts.centos ?? 0) < 1) throw new SandboxError('a sandbox needs at least one host');
  const state = await sandboxUp({
    count,
    centos: opts.centos,
    dir: opts.dir,
    lan: opts.lan,
    release: opts.release,
    releases: opts.releaseOf,
    log,
  });
  for (const h of state.hosts) {
    const { address, port, jump } = sandboxAddress(state, h);
    const via = jump ? ` -J ${jump}` : '';
    const lan = h.lanAddress ? `\tLAN ${h.lanAddress}` : '';
    process.stdout.write(
      `${h.name}\t${h.fqdn}\t${hostLabel(h)}\tssh -i ${state.privateKey} -o UserKnownHostsFile=${state.knownHosts}${via} -p ${port} root@${address}${lan}\n`,
    );
  }
  if (state.lan) process.stdout.write(lanLines(state.lan));
  return 0;
}

const lanLines = (lan: SandboxLan) =>
  `LAN ${lan.network} (a bridge of its own, no route out): clients office ${lan.clients.office.address} (in ${lan.office}), guest ${lan.clients.guest.address}\n`;

export async function sandboxStatusCommand(opts: { dir?: string }): Promise<number> {
  const s = await sandboxStatus(opts.dir);
  if (!s.state) {
    process.stdout.write('no sandbox\n');
    return 0;
  }
  if (!s.state.ready) {
    // what a crashed `up` leaves: its recorded processes, which `down` (or the next `up`) stops
    process.stdout.write(
      `sandbox in ${s.state.dir} did not finish starting (${s.processes} process(es) left): run \`mailprov sandbox down\`\n`,
    );
    return 1;
  }
  const kinds = new Map(s.state.hosts.map((h) => [h.name, hostLabel(h)]));
  for (const h of s.hosts) {
    const where = h.reachableFrom ? `private, through ${h.reachableFrom.join(', ')}` : `127.0.0.1:${h.port}`;
    const lan = s.state.hosts.find((x) => x.name === h.name)?.lanAddress;
    process.stdout.write(`${h.name}\t${kinds.get(h.name)}\t${where}${lan ? `\tLAN ${lan}` : ''}\t${h.up ? 'up' : 'DOWN'}\n`);
  }
  if (s.state.lan) process.stdout.write(lanLines(s.state.lan));
  process.stdout.write(`smart host ${s.state.smartHost.name}: ${s.messages} message(s) received\nstate: ${s.state.dir}\n`);
  return s.hosts.every((h) => h.up) ? 0 : 1;
}

export async function sandboxDownCommand(opts: { dir?: string }): Promise<number> {
  await sandboxDown({ dir: opts.dir, log });
  return 0;
}

/** Exit 0: the host took the message; 1: it refused it, or the connection failed. */
export async function sandboxSubmitCommand(hostName: string, opts: { client: string; to: string; dir?: string }): Promise<number> {
  const dir = opts.dir ?? defaultStateDir();
  const state = readState(dir);
  if (!state?.lan) throw new SandboxError(`no sandbox with a LAN in ${dir}: run \`mailprov sandbox up --lan\` first`);
  if (!(opts.client in LAN_CLIENTS))
    throw new SandboxError(`--client: expected one of ${Object.keys(LAN_CLIENTS).join(', ')}, got "${opts.client}"`);
  const client = opts.client as LanClientName;
  const host = state.hosts.find((h) => h.name === hostName);
  if (!host?.lanAddress) throw new SandboxError(`${hostName} is not a host of this sandbox (${state.hosts.map((h) => h.name).join(', ')})`);
  const r = await lanSubmit(state.lan, client, host.lanAddress, {
    from: `${client === 'office' ? 'printer' : 'visitor'}@${lanClientName(client)}`,
    to: opts.to,
    subject: `from the ${client} client through ${host.name}`,
  });
  process.stdout.write(
    `${client} ${state.lan.clients[client].address} -> ${host.name} ${host.lanAddress}:25: ${r.code ? `${r.code} ` : ''}${r.response}\n`,
  );
  return r.accepted ? 0 : 1;
}

/** `sandbox cut <host> [--for SECONDS]`: fault injection by hand (tests call cutConnection). */
export async function sandboxCutCommand(hostName: string, opts: { for: number; dir?: string }): Promise<number> {
  const dir = opts.dir ?? defaultStateDir();
  const state = readState(dir);
  if (!state?.ready) throw new SandboxError(`no sandbox in ${dir}: run \`mailprov sandbox up\` first`);
  const r = await cutConnection(state, hostName, { forSeconds: opts.for });
  const down = r.downUntil ? `; it refuses new connections until ${new Date(r.downUntil).toISOString().slice(11, 19)} UTC` : '';
  process.stdout.write(`${hostName}: ${r.sessions} sshd session process(es) ended${down}\n`);
  return 0;
}
