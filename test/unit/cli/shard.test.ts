// --shard and `report merge` through the real binary, on hosts that refuse connections (no sandbox):
// the shards split the inventory, their JSON says which shard it is, merge gives one run's exit code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPorts } from '../../closed-port.ts';

const BIN = resolve(__dirname, '../../../bin/mailprov.mjs');
let dir: string;
let inv: string;

// HOME is a folder of the test's own: nothing in the ~/.ssh of the machine running it plays a part
function mailprov(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, HOME: dir, ...env }, cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailprov-shard-cli-'));
  inv = join(dir, 'inv.ts');
  const key = join(dir, 'id');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  // four loopback ports this test bound and closed: refused at once, so each host fails fast and alone
  const ports = await closedPorts(4);
  writeFileSync(
    inv,
    `import { defineInventory } from 'mailprov';
     export default defineInventory({
       defaults: { knownHosts: '/dev/null', privateKey: ${JSON.stringify(key)}, connectTimeoutMs: 2000 },
       hosts: { relay1: { address: '127.0.0.1', port: ${ports[0]} }, relay2: { address: '127.0.0.1', port: ${ports[1]} },
                relay3: { address: '127.0.0.1', port: ${ports[2]} }, relay4: { address: '127.0.0.1', port: ${ports[3]} } },
     });\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--shard', () => {
  it('refuses a shard that does not exist, naming the flag, before loading the inventory', { timeout: 30_000 }, () => {
    const r = mailprov(['plan', '/nonexistent/inv.ts', '--shard', '3/2']);
    expect([r.code, r.stderr]).toEqual([1, 'mailprov: --shard 3/2: there is no shard 3 of 2; i goes from 1 to 2\n']);
    const auto = mailprov(['apply', inv, '--shard', 'auto/2'], { JOB_COMPLETION_INDEX: '' });
    expect(auto.stderr).toMatch(/^mailprov: --shard auto\/2: JOB_COMPLETION_INDEX is not set/);
  });

  it('runs a slice per shard, each host in one; report merge gives the exit code and summary of one run', { timeout: 60_000 }, () => {
    const a = mailprov(['plan', inv, '--shard', '1/2', '--json']);
    const b = mailprov(['plan', inv, '--shard', 'auto/2', '--json'], { JOB_COMPLETION_INDEX: '1' });
    const docA = JSON.parse(a.stdout);
    const docB = JSON.parse(b.stdout);
    const selection = {
      selected: 4,
      inventory: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      limit: null,
      selection: ['relay1', 'relay2', 'relay3', 'relay4'],
    };
    expect(docA.shard).toEqual({ index: 1, count: 2, ...selection });
    expect(docB.shard).toEqual({ index: 2, count: 2, ...selection });
    const names = [...docA.hosts, ...docB.hosts].map((h: { host: string }) => h.host).sort();
    expect(names).toEqual(['relay1', 'relay2', 'relay3', 'relay4']);
    // each failed on its refused connection, not on something before it
    for (const h of [...docA.hosts, ...docB.hosts] as { host: string; error: string }[])
      expect(h.error).toMatch(new RegExp(`^${h.host}: cannot connect to 127\\.0\\.0\\.1:\\d+: .*ECONNREFUSED`));
    writeFileSync(join(dir, 'a.json'), a.stdout);
    writeFileSync(join(dir, 'b.json'), b.stdout);

    const merged = mailprov(['report', 'merge', 'a.json', 'b.json', '--json']);
    expect(merged.code).toBe(1); // as one plan over the four: every host failed to connect
    const doc = JSON.parse(merged.stdout);
    expect(doc.summary).toEqual({ hosts: 4, changes: 0, changed: 0, unchanged: 0, failed: 4, rolledBack: 0 });
    expect(doc.hosts.map((h: { host: string }) => h.host)).toEqual(['relay1', 'relay2', 'relay3', 'relay4']);

    const text = mailprov(['report', 'merge', 'a.json', 'b.json']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^plan, merged from a\.json \(shard 1\/2\): \d hosts, b\.json \(shard 2\/2\): \d hosts\n/);
    expect(text.stdout).toContain('relay3 failed:');
    expect(text.stdout).toContain('0 changes pending on 0 hosts, 0 hosts unchanged, 4 failed');

    const missing = mailprov(['report', 'merge', 'a.json']);
    // a refused merge has an exit code of its own: 1 would say a host failed
    expect([missing.code, missing.stderr]).toEqual([
      3,
      expect.stringMatching(/^mailprov: shard 2\/2 is missing \(given: a\.json 1\/2 with \d hosts\)/),
    ]);
    const twice = mailprov(['report', 'merge', 'a.json', 'b.json', 'a.json']);
    expect([twice.code, twice.stderr]).toEqual([3, 'mailprov: a.json is given twice\n']);
    const none = mailprov(['report', 'merge', 'a.json', 'nope.json']);
    expect([none.code, none.stderr]).toEqual([3, 'mailprov: nope.json: cannot read it (ENOENT)\n']);
  });

  // issue 24: shard 1/2 of one --limit and shard 2/2 of another merged as if they were one run, exit 0
  it('report merge refuses shards of different --limit with exit 3, naming the files and their --limit', { timeout: 60_000 }, () => {
    // shard 1/2 of relay1,relay3 is relay3; shard 2/2 of relay2,relay3 is relay2: two hosts, as each run
    // selected two, and relay1 never ran
    const a = mailprov(['plan', inv, '--limit', 'relay1,relay3', '--shard', '1/2', '--json']);
    const b = mailprov(['plan', inv, '--limit', 'relay2,relay3', '--shard', '2/2', '--json']);
    expect([
      JSON.parse(a.stdout).hosts.map((h: { host: string }) => h.host),
      JSON.parse(b.stdout).hosts.map((h: { host: string }) => h.host),
    ]).toEqual([['relay3'], ['relay2']]);
    writeFileSync(join(dir, 'l12.json'), a.stdout);
    writeFileSync(join(dir, 'l34.json'), b.stdout);
    const merged = mailprov(['report', 'merge', 'l12.json', 'l34.json']);
    expect([merged.code, merged.stdout, merged.stderr]).toEqual([
      3,
      '',
      'mailprov: the shards were run with different --limit (l12.json: --limit relay1,relay3; l34.json: --limit relay2,relay3): ' +
        'merge the shards of one selection\n',
    ]);
  });
});
