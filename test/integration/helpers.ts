// Shared by the integration tests: a sandbox of real hosts in a temporary state folder, and
// inventories built in memory the way a user's file would build them.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { HostResult } from '../../src/engine/events.ts';
import { runHosts } from '../../src/engine/index.ts';
import { resolveInventory, type Inventory } from '../../src/inventory/load.ts';
import type { InventoryInput } from '../../src/inventory/schema.ts';
import { sandboxDown, sandboxUp, type SandboxState, type UpOptions } from '../../src/sandbox/index.ts';
import { connect, type ExecResult } from '../../src/transport/ssh.ts';

/** `releases`: Debian hosts of a release other than the default (13), e.g. `{ relay2: 12 }` for a mixed fleet. */
export async function startSandbox(count: number, opts: Pick<UpOptions, 'releases' | 'lan' | 'centos'> = {}): Promise<SandboxState> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-it-'));
  return sandboxUp({ dir, count, ...opts });
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

export function sandboxInventory(
  state: SandboxState,
  playbooks: InventoryInput['playbooks'],
  extraHosts: InventoryInput['hosts'] = {},
  only?: string[],
): Inventory {
  return resolveInventory(
    {
      defaults: {
        user: 'root',
        privateKey: state.privateKey,
        knownHosts: state.knownHosts,
        hostKeyPolicy: 'strict',
        connectTimeoutMs: 5000,
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

export async function apply(inv: Inventory, dryRun = false): Promise<HostResult[]> {
  return runHosts(inv.hosts, { dryRun, forks: 20, emit: () => {} });
}

export const byHost = (results: HostResult[]) => Object.fromEntries(results.map((r) => [r.host, r]));

export const resourceIds = (r: HostResult) => r.changes.map((c) => c.resourceId);

/** Runs a command on sandbox host number `i` over a connection of its own. */
export async function remote(state: SandboxState, i: number, cmd: string, stdin?: string): Promise<ExecResult> {
  const h = state.hosts[i];
  const c = await connect({
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
  try {
    return await c.exec(cmd, stdin);
  } finally {
    c.close();
  }
}
