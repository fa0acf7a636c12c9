// Two shards of one plan, through the real CLI, against three sandbox hosts: together they cover
// every host exactly once, and `report merge` of their JSON gives the changes and the exit code of
// one unsharded plan.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSandbox } from './helpers.ts';

const BIN = resolve(__dirname, '../../bin/mailprov.mjs');
const sandbox = useSandbox(3);
let work: string;
let inv: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-shard-'));
  inv = join(work, 'inv.ts');
  const hosts = sandbox.state.hosts.map((h) => `${h.name}: { address: '127.0.0.1', port: ${h.port} }`).join(', ');
  writeFileSync(
    inv,
    `import { defineInventory, secret } from 'mailprov';
     import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
     export default defineInventory({
       defaults: { privateKey: ${JSON.stringify(sandbox.state.privateKey)}, knownHosts: ${JSON.stringify(sandbox.state.knownHosts)} },
       hosts: { ${hosts} },
       playbooks: [{ use: sendmailSmartHost({
         smartHost: ${JSON.stringify(sandbox.state.smartHost.name)}, listen: ['127.0.0.1'], openSmtpPort: false,
         auth: { user: ${JSON.stringify(sandbox.state.smartHost.user)}, password: secret.file(${JSON.stringify(sandbox.state.smartHost.passwordFile)}) },
       }) }],
     });\n`,
  );
});
afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface HostJson {
  host: string;
  status: string;
  changes: { resource: string; action: string; summary: string; reason: string; diff: { unified: string } | null }[];
}

/** What a plan says about each host, without what differs between runs (times, the run's own paths). */
const changesByHost = (hosts: HostJson[]) =>
  Object.fromEntries(
    hosts.map((h) => [
      h.host,
      { status: h.status, changes: h.changes.map((c) => [c.resource, c.action, c.summary, c.reason, c.diff?.unified ?? null]) },
    ]),
  );

describe('--shard and report merge', () => {
  it('two shards cover every host once, and their merge is the plan of one run', { timeout: 300_000 }, () => {
    const one = cli('plan', inv, '--json');
    expect(one.stderr).toBe('');
    expect(one.code).toBe(2); // fresh hosts: changes pending
    const whole = JSON.parse(one.stdout);

    const shards = ['1/2', '2/2'].map((s) => {
      const r = cli('plan', inv, '--shard', s, '--json');
      expect(r.stderr).toBe('');
      const file = join(work, `shard-${s.replace('/', '-of-')}.json`);
      writeFileSync(file, r.stdout);
      return { r, file, doc: JSON.parse(r.stdout) };
    });
    const names = shards.flatMap((s) => s.doc.hosts.map((h: HostJson) => h.host));
    expect([...names].sort()).toEqual(['relay1', 'relay2', 'relay3']);
    // the split is a function of the names: relay3 in the first shard, relay1 and relay2 in the second
    expect(shards.map((s) => s.doc.hosts.map((h: HostJson) => h.host))).toEqual([['relay3'], ['relay1', 'relay2']]);
    for (const s of shards) expect(s.r.code).toBe(2);

    const merged = cli('report', 'merge', shards[0].file, shards[1].file, '--json');
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(one.code);
    const doc = JSON.parse(merged.stdout);
    expect(doc.command).toBe('plan');
    expect(doc.summary).toEqual(whole.summary);
    expect(changesByHost(doc.hosts)).toEqual(changesByHost(whole.hosts));
    expect(doc.summary.changes).toBeGreaterThan(0);

    const text = cli('report', 'merge', shards[0].file, shards[1].file);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(`${whole.summary.changes} changes pending on 3 hosts, 0 hosts unchanged`);

    // a shard given twice is a host in two shards: refused, naming the file
    const twice = cli('report', 'merge', shards[0].file, shards[1].file, `${work}/./shard-1-of-2.json`);
    expect(twice.code).toBe(3); // a refused merge: not "a host failed"
    expect(twice.stderr).toMatch(/^mailprov: .*shard-1-of-2\.json and .*shard-1-of-2\.json are both shard 1\/2\n$/);
  });
});
