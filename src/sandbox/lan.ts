// The sandbox LAN (`sandbox up --lan`): the second seed's office network, for real traffic through
// the relays' firewalls. One bridge in a network namespace of its own; every host of the sandbox and
// two client machines plug into it with a veth pair made from inside their own namespace, so no
// interface ever appears on this machine's network. Nothing on the LAN has a route anywhere else
// (no host has a default route, the bridge's namespace has only the bridge), and the controller
// never addresses it: it still reaches the hosts over its loopback ports.
//
//   192.168.0.0/16, one segment
//   192.168.77.1 ...   the sandbox hosts, in order (relay1 first)
//   192.168.77.200     "office": a client inside the office network (192.168.77)
//   192.168.88.200     "guest":  a client on the same wire, outside it
//
// A client is a network namespace and nothing else; what runs "on" it (a TCP connection, an SMTP
// submission) is a process of this machine entered into that namespace (lan-client.ts).
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { packageRoot } from '../paths.ts';
import { local } from './local.ts';
import { isRunning, type RecordedProcess } from './processes.ts';
import { tsxLoaderUrl } from './wait.ts';

export const LAN_NETWORK = '192.168.0.0/16';
const LAN_PREFIX_LENGTH = 16;
/** The office network: the hosts and the office client. A relay's relayFrom for its clients. */
export const LAN_OFFICE_NETWORK = '192.168.77';
export const LAN_CLIENTS = {
  office: `${LAN_OFFICE_NETWORK}.200`,
  guest: '192.168.88.200',
} as const;
export type LanClientName = keyof typeof LAN_CLIENTS;
/** .1 to .199 of the office network; the LAN is for tests and demos, not for the thousand-host sandbox. */
export const LAN_MAX_HOSTS = 199;

export interface SandboxLan {
  network: string;
  office: string;
  /** The holder of the bridge's namespace: every veth of the LAN ends in it. */
  bridge: RecordedProcess;
  clients: Record<LanClientName, { address: string; process: RecordedProcess }>;
}

/** The LAN address of the i-th host (0-based). */
export function lanHostAddress(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= LAN_MAX_HOSTS)
    throw new SandboxError(`a sandbox LAN holds at most ${LAN_MAX_HOSTS} hosts`);
  return `${LAN_OFFICE_NETWORK}.${index + 1}`;
}

/** A client's name on the LAN: what the hosts' /etc/hosts call it, and a mail domain of its own. */
export const lanClientName = (client: LanClientName) => `${client}.lan.sandbox.test`;

/** The hosts' /etc/hosts lines for the clients (a relay looks up who connects, and the sender's domain). */
export const lanClientHostLines = (lan: SandboxLan) =>
  (Object.keys(lan.clients) as LanClientName[]).map((c) => `${lan.clients[c].address}\t${lanClientName(c)}\n`).join('');

/** The name of a host's port on the bridge (an interface name: at most 15 characters). */
export const lanPortName = (index: number) => `h${index + 1}`;

// The bridge's namespace: made by `unshare --net`, which then becomes this shell and then sleep, so
// the recorded process is the namespace's only one and killing it ends the namespace and every veth.
export const BRIDGE_START = `set -e
ready=$1
ip link set lo up
ip link add br0 type bridge
ip link set br0 up
touch "$ready"
exec sleep infinity
`;

// Plugs the namespace this runs in into the bridge: eth0 here, its peer in the bridge's namespace
// (named by path: a pid would be read in this shell's own PID namespace, which a host has).
export const LAN_PLUG = `lan_plug() {
  ip link add eth0 type veth peer name "$2" netns "/proc/$1/ns/net"
  nsenter --net="/proc/$1/ns/net" ip link set "$2" master br0 up
  ip addr add "$3/${LAN_PREFIX_LENGTH}" dev eth0
  ip link set eth0 up
}
`;

// A client: a network namespace on the bridge and nothing else.
export const CLIENT_START = `set -e
bridge=$1 port=$2 addr=$3 ready=$4
${LAN_PLUG}
ip link set lo up
lan_plug "$bridge" "$port" "$addr"
touch "$ready"
exec sleep infinity
`;

/** How a TCP connection from a client ended. */
export interface LanConnectResult {
  /** open: accepted; refused: RST; unreachable: an ICMP reject (a firewall's REJECT); timeout: no answer */
  outcome: 'open' | 'refused' | 'unreachable' | 'timeout';
  /** The server's first line (an SMTP greeting) when open; the error code otherwise. */
  detail: string;
}

/** How an SMTP submission from a client ended. */
export interface LanSubmitResult {
  accepted: boolean;
  /** The server's last reply: "250 2.0.0 ... Message accepted for delivery", "550 5.7.1 ... Relaying denied". */
  response: string;
  /** Set when the connection itself failed (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT). */
  code?: string;
}

export interface LanMessage {
  from: string;
  to: string;
  subject: string;
  text?: string;
}

type ClientRequest =
  | { kind: 'connect'; address: string; port: number; timeoutMs: number }
  | { kind: 'ehlo'; address: string; port: number; timeoutMs: number; starttls?: boolean }
  | ({ kind: 'submit'; address: string; port: number; timeoutMs: number; auth?: { user: string; pass: string } } & LanMessage);

function clientProcess(lan: SandboxLan | undefined, client: LanClientName): RecordedProcess {
  if (!lan) throw new SandboxError('this sandbox has no LAN: bring it up with `mailprov sandbox up --lan`');
  const p = lan.clients[client]?.process;
  // entered only while it is still the process `up` recorded: never some other process's namespace
  if (!p || !isRunning(p)) throw new SandboxError(`the LAN client ${client} is not running: bring the sandbox up again`);
  return p;
}

// The client side runs in the client's network namespace (nsenter) and speaks JSON on stdio.
async function onClient<T>(lan: SandboxLan | undefined, client: LanClientName, request: ClientRequest): Promise<T> {
  const p = clientProcess(lan, client);
  const tsx = tsxLoaderUrl();
  const script = join(packageRoot(), 'src/sandbox/lan-client.ts');
  const out = await local({
    input: JSON.stringify(request),
    what: `could not run the LAN client ${client}`,
  })`nsenter ${`--net=/proc/${p.pid}/ns/net`} -- ${process.execPath} --import ${tsx} ${script}`;
  return JSON.parse(out.stdout) as T;
}

/** A TCP connection from a LAN client to `address:port`: what a machine of the office would see. */
export function lanConnect(
  lan: SandboxLan | undefined,
  client: LanClientName,
  address: string,
  port: number,
  timeoutMs = 3000,
): Promise<LanConnectResult> {
  return onClient(lan, client, { kind: 'connect', address, port, timeoutMs });
}

/** Submits one message over SMTP (port 25, no AUTH, as an office printer does) from a LAN client. */
export function lanSubmit(
  lan: SandboxLan | undefined,
  client: LanClientName,
  relay: string,
  message: LanMessage,
  timeoutMs = 15_000,
): Promise<LanSubmitResult> {
  return onClient(lan, client, { kind: 'submit', address: relay, port: 25, timeoutMs, ...message });
}

/**
 * Submits one message as a roaming user does (issue 32): to `port` (587), STARTTLS required, then
 * AUTH as `auth` when given. The password reaches the client over its stdin, never its command line.
 */
export function lanSubmitAuth(
  lan: SandboxLan | undefined,
  client: LanClientName,
  relay: string,
  message: LanMessage,
  opts: { port: number; auth?: { user: string; pass: string } },
  timeoutMs = 15_000,
): Promise<LanSubmitResult> {
  return onClient(lan, client, {
    kind: 'submit',
    address: relay,
    port: opts.port,
    timeoutMs,
    ...message,
    ...(opts.auth ? { auth: opts.auth } : {}),
  });
}

/**
 * The EHLO reply of `address:port` in the clear, from a LAN client: what is offered before STARTTLS;
 * with `opts.starttls`, what is offered after it.
 */
export function lanEhlo(
  lan: SandboxLan | undefined,
  client: LanClientName,
  address: string,
  port: number,
  timeoutMs = 5000,
  opts: { starttls?: boolean } = {},
): Promise<LanConnectResult> {
  return onClient(lan, client, { kind: 'ehlo', address, port, timeoutMs, ...(opts.starttls ? { starttls: true } : {}) });
}
