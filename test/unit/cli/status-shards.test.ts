// `status --shard auto/n` as a Kubernetes Indexed Job runs it: n processes, each with its own
// JOB_COMPLETION_INDEX (0..n-1), over hosts that refuse connections (no sandbox), then `report merge`
// of their JSON: every host once, in its shard, with the exit code status gives over all of them.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../../src/inventory/shard.ts';
import { closedPorts } from '../../closed-port.ts';

const BIN = resolve(import.meta.dirname, '../../../bin/mailprov.mjs');
const HOSTS = ['relay1', 'relay2', 'relay3', 'relay4', 'relay5'];
const N = 3;
let dir: string;
let inv: string;

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: dir, ...env }, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailprov-status-shards-'));
  inv = join(dir, 'inv.ts');
  const key = join(dir, 'id');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const ports = await closedPorts(HOSTS.length);
  const hosts = HOSTS.map((h, i) => `${h}: { address: '127.0.0.1', port: ${ports[i]} }`).join(', ');
  writeFileSync(
    inv,
    `import { defineInventory } from 'mailprov';
     export default defineInventory({
       defaults: { knownHosts: '/dev/null', privateKey: ${JSON.stringify(key)}, connectTimeoutMs: 2000 },
       hosts: { ${hosts} },
     });\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('status shards', () => {
  it('n processes with JOB_COMPLETION_INDEX 0..n-1 read a shard each; report merge gives one table and exit code', {
    timeout: 60_000,
  }, async () => {
    const shards = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        run(['status', inv, '--shard', `auto/${N}`, '--json', '--prometheus', join(dir, `mailprov-${i}.prom`)], {
          JOB_COMPLETION_INDEX: String(i),
        }),
      ),
    );
    const files: string[] = [];
    for (const [i, r] of shards.entries()) {
      // --prometheus: the file was written, exit 0
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.shard).toMatchObject({ index: i + 1, count: N, selected: HOSTS.length, limit: null, selection: HOSTS });
      expect(doc.hosts.map((h: { host: string }) => h.host)).toEqual(HOSTS.filter((h) => shardOf(h, N) === i + 1));
      for (const h of doc.hosts) expect(h.state).toBe('unreachable');
      files.push(join(dir, `status-${i}.json`));
      writeFileSync(files[i], r.stdout);
    }
    // each shard's metrics file parses alone, and together they hold every host once
    const proms = readdirSync(dir).filter((f) => f.endsWith('.prom'));
    expect(proms.sort()).toEqual(Array.from({ length: N }, (_, i) => `mailprov-${i}.prom`));
    const up = proms.flatMap(
      (f) => parsePrometheusTextFormat(readFileSync(join(dir, f), 'utf8')).find((m) => m.name === 'mailprov_up')?.metrics ?? [],
    );
    expect(up.map((m) => m.labels?.host).sort()).toEqual(HOSTS);
    expect(up.every((m) => m.value === '0')).toBe(true);

    const merged = await run(['report', 'merge', '--json', ...files]);
    expect(merged.code, merged.stderr).toBe(3);
    const doc = JSON.parse(merged.stdout);
    expect(doc.command).toBe('status');
    expect(doc.hosts.map((h: { host: string }) => h.host)).toEqual(HOSTS);
    const table = await run(['report', 'merge', ...files]);
    expect(table.code).toBe(3);
    expect(table.stdout).toMatch(/^HOST\s+STATE/);
    for (const h of HOSTS) expect(table.stdout).toMatch(new RegExp(`^${h}\\s+unreachable\\s`, 'm'));

    // a missing shard is refused: its hosts' states would be unknown
    const partial = await run(['report', 'merge', ...files.slice(1)]);
    expect(partial.code).toBe(3);
    expect(partial.stderr).toMatch(/shard 1\/3 is missing/);
    // and a status result does not merge with a plan's
    const plan = await run(['plan', inv, '--shard', `1/${N}`, '--json']);
    writeFileSync(join(dir, 'plan-1.json'), plan.stdout);
    const mixed = await run(['report', 'merge', join(dir, 'plan-1.json'), ...files.slice(1)]);
    expect(mixed.code).toBe(3);
    expect(mixed.stderr).toMatch(/different commands: status in .*status-1\.json/);
  });

  it('--nagios with an option it does not know is UNKNOWN (3), with a status line', { timeout: 30_000 }, async () => {
    const r = await run(['status', inv, '--nagios', '--warn-queu', '3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('MAILPROV UNKNOWN - invalid arguments (see stderr)\n');
    expect(r.stderr).toMatch(/unknown option '--warn-queu'/);
    // without --nagios, a wrong option is mailprov's usual 1
    expect((await run(['status', inv, '--warn-queu', '3'])).code).toBe(1);
  });
});
