// Shared by the integration tests: a sandbox of real hosts in a temporary state folder, and
// inventories built in memory the way a user's file would build them.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { HostResult } from '../../src/engine/events.ts';
import { runHosts } from '../../src/engine/index.ts';
import { resolveInventory, type Inventory } from '../../src/inventory/load.ts';
import type { InventoryInput } from '../../src/inventory/schema.ts';
import { type DebianRelease, DEFAULT_RELEASE, sandboxDown, sandboxUp, type SandboxState, type UpOptions } from '../../src/sandbox/index.ts';
import { connect, type Connection, type ExecResult } from '../../src/transport/ssh.ts';

/**
 * The Debian releases whose per-release cases run: the default release (13) in `npm test`, and the
 * others (12) in `npm run test:matrix` (MAILPROV_TEST_MATRIX=1), which `.ci/run` runs as well. A
 * case that runs the same story once per release (a sandbox or a host of each) goes through this;
 * a mixed fleet (a Debian 12 host beside the others, in one run) costs little and stays in `npm test`.
 */
export function releasesUnderTest(): DebianRelease[] {
  return process.env.MAILPROV_TEST_MATRIX === '1' ? [12] : [DEFAULT_RELEASE];
}

/** The cases of a per-release `describe.each`/`it.each` whose release is under test (releasesUnderTest). */
export function casesUnderTest<T>(cases: readonly T[], releaseOf: (c: T) => DebianRelease): T[] {
  const under = releasesUnderTest();
  return cases.filter((c) => under.includes(releaseOf(c)));
}

/** `releases`: Debian hosts of a release other than the default (13), e.g. `{ relay2: 12 }` for a mixed fleet. */
export async function startSandbox(count: number, opts: Omit<UpOptions, 'dir' | 'count'> = {}): Promise<SandboxState> {
  return upOrTearDown({ ...opts, dir: mkdtempSync(join(tmpdir(), 'mailprov-it-')), count });
}

/**
 * `up` in a folder of the test's; if it fails halfway, what it had started is stopped before the
 * error goes on (its state file lists it): the caller never got a state to stop, so a
 * stopSandbox(undefined) in afterAll would leave the hosts running.
 */
export async function upOrTearDown(opts: UpOptions & { dir: string }): Promise<SandboxState> {
  try {
    return await sandboxUp(opts);
  } catch (err) {
    try {
      await tearDownFolder(opts.dir);
    } catch (downErr) {
      throw new AggregateError([err, downErr], `sandbox up failed, and so did stopping what it started: ${(downErr as Error).message}`);
    }
    throw err;
  }
}

/** Stops whatever sandbox a folder holds: none (an empty mkdtemp folder is removed), or one `up` left halfway. */
async function tearDownFolder(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  else await sandboxDown({ dir });
}

/** A test file's sandbox; `state` is there once beforeAll has brought it up. */
export interface SandboxHandle {
  readonly state: SandboxState;
}

/**
 * The sandbox of a test file: `count` Debian hosts (and `opts`: centos, lan, private) up in
 * beforeAll, down in afterAll with the hygiene check. A failed `up` is torn down where it stopped.
 */
export function useSandbox(count: number, opts: Omit<UpOptions, 'dir' | 'count'> = {}): SandboxHandle {
  let dir: string | undefined;
  let state: SandboxState | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailprov-it-'));
    state = await upOrTearDown({ ...opts, dir, count });
  });
  afterAll(async () => {
    if (state) await stopSandbox(state);
    // beforeAll did not finish (a timeout while `up` ran): whatever the folder holds goes
    else if (dir) await tearDownFolder(dir);
  });
  return {
    get state(): SandboxState {
      if (!state) throw new Error('the sandbox is not up: useSandbox() brings it up in beforeAll, which failed or has not run');
      return state;
    },
  };
}

/**
 * Hygiene check, wider than what `down` kills: every process whose command line names the folder
 * (hosts, forwarders and their per-connection children, the smart host).
 */
export function pidsNaming(dir: string): number[] {
  const needle = dir + '/';
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false; // exited meanwhile
      }
    });
}

export async function stopSandbox(state: SandboxState | undefined): Promise<void> {
  if (!state) return;
  await sandboxDown({ dir: state.dir });
  // hygiene: nothing of this sandbox may survive its `down`
  expect(pidsNaming(state.dir)).toEqual([]);
  expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(state.dir);
}

/** An inventory of the sandbox's hosts (or `only` those) in group relays; `defaults` overrides the defaults below. */
export function sandboxInventory(
  state: SandboxState,
  playbooks: InventoryInput['playbooks'],
  extraHosts: InventoryInput['hosts'] = {},
  only?: string[],
  defaults: InventoryInput['defaults'] = {},
): Inventory {
  return resolveInventory(
    {
      defaults: {
        user: 'root',
        privateKey: state.privateKey,
        knownHosts: state.knownHosts,
        hostKeyPolicy: 'strict',
        connectTimeoutMs: 5000,
        ...defaults,
      },
      hosts: {
        ...Object.fromEntries(
          state.hosts
            .filter((h) => !only || only.includes(h.name))
            .map((h) => [h.name, { address: '127.0.0.1', port: h.port, groups: ['relays'] }]),
        ),
        ...extraHosts,
      },
      playbooks,
    },
    join(state.dir, 'test-inventory.ts'),
  );
}

/**
 * A user's inventory file (TypeScript, importing 'mailprov' as a user's would) for the sandbox's
 * first host as relay1, with sendmailSmartHost towards the sandbox's smart host. `password` is the
 * TypeScript of the auth password (e.g. `secret.file("...")`); `settings`, more settings as TypeScript.
 */
export function writeInventory(file: string, state: SandboxState, opts: { password: string; settings?: string }): string {
  writeFileSync(
    file,
    `import { defineInventory, secret } from 'mailprov';
     import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
     export default defineInventory({
       defaults: { privateKey: ${JSON.stringify(state.privateKey)}, knownHosts: ${JSON.stringify(state.knownHosts)} },
       hosts: { relay1: { address: '127.0.0.1', port: ${state.hosts[0].port} } },
       playbooks: [{ use: sendmailSmartHost({
         smartHost: ${JSON.stringify(state.smartHost.name)},${opts.settings ? ` ${opts.settings},` : ''}
         auth: { user: ${JSON.stringify(state.smartHost.user)}, password: ${opts.password} },
       }) }],
     });\n`,
  );
  return file;
}

export async function apply(inv: Inventory, dryRun = false): Promise<HostResult[]> {
  return runHosts(inv.hosts, { dryRun, forks: 20, emit: () => {} });
}

export const byHost = (results: HostResult[]) => Object.fromEntries(results.map((r) => [r.host, r]));

export const resourceIds = (r: HostResult) => r.changes.map((c) => c.resourceId);

/** Runs a command on sandbox host number `i` over a connection of its own. */
export async function remote(state: SandboxState, i: number, cmd: string, stdin?: string): Promise<ExecResult> {
  const c = await connectTo(state, i);
  try {
    return await c.exec(cmd, stdin);
  } finally {
    c.close();
  }
}

/** A connection of its own to sandbox host number `i`, as root with the sandbox's key; the caller closes it. */
export async function connectTo(state: SandboxState, i: number): Promise<Connection> {
  const h = state.hosts[i];
  return connect({
    name: h.name,
    address: '127.0.0.1',
    port: h.port,
    user: 'root',
    privateKey: state.privateKey,
    knownHosts: state.knownHosts,
    hostKeyPolicy: 'strict',
    sudo: false,
    connectTimeoutMs: 5000,
  });
}

/** Every form a password could leak in: itself, JSON-escaped, base64, and as AUTH PLAIN sends it
 * (the probe without an authorization id, sendmail with the user as one). */
export function passwordForms(value: string, user: string): string[] {
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    Buffer.from(value).toString('base64'),
    Buffer.from(`\0${user}\0${value}`).toString('base64'),
    Buffer.from(`${user}\0${user}\0${value}`).toString('base64'),
  ];
}
