// Saved plans (issue 28) through the real CLI on sandbox hosts: plan --out, show, apply FILE.
// A host edited by hand since the plan is refused and the other applied; the same plan is refused
// the second time; a rotated password makes the plan stale; a plan file edited by hand is refused;
// and neither the plan file, its JSON nor any output holds a password in any form. With --serial
// and --max-fail (three hosts): a failing first host stops the rollout and the same plan finishes
// it once mended (but not on a host whose failed apply installed packages); a stale first host is
// refused and does not stop it; --all-or-nothing finishes a rollout whose other hosts were applied before.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSmartHostMode } from '../../src/sandbox/index.ts';
import { passwordForms, remote, useSandbox } from './helpers.ts';

const BIN = resolve(__dirname, '../../bin/mailprov.mjs');
// relay1 and relay2 in inv.ts; relay3 joins them for --serial (the tests at the end)
const sandbox = useSandbox(3);
let work: string;
let pwFile: string;

/** An inventory in the work folder: the first `count` sandbox hosts, the relay with `extra` settings. */
function writeInventory(name: string, count: number, extra = ''): void {
  const s = sandbox.state;
  const hosts = s.hosts
    .slice(0, count)
    .map((h) => `${h.name}: { address: '127.0.0.1', port: ${h.port} }`)
    .join(', ');
  writeFileSync(
    join(work, name),
    `import { defineInventory, secret } from 'mailprov';
     import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
     export default defineInventory({
       defaults: { privateKey: ${JSON.stringify(s.privateKey)}, knownHosts: ${JSON.stringify(s.knownHosts)} },
       hosts: { ${hosts} },
       playbooks: [{ use: sendmailSmartHost({
         smartHost: ${JSON.stringify(s.smartHost.name)},
         listen: ['127.0.0.1'], openSmtpPort: false, verify: { recipient: 'ops@example.com' }, ${extra}
         auth: { user: ${JSON.stringify(s.smartHost.user)}, password: secret.file(${JSON.stringify(pwFile)}) },
       }) }],
     });\n`,
  );
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-saved-plan-'));
  pwFile = join(work, 'password');
  copyFileSync(sandbox.state.smartHost.passwordFile, pwFile);
  writeInventory('inv.ts', 2);
});
// it holds the smart host's password
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work, env: { ...process.env, MAILPROV_PLAN_KEY: '' } });
  return { out: r.stdout, err: r.stderr, code: r.status };
};

const planFile = (name: string) => join(work, name);
const statuses = (json: string) =>
  Object.fromEntries((JSON.parse(json) as { hosts: { host: string; status: string }[] }).hosts.map((h) => [h.host, h.status]));

describe('saved plans', () => {
  it('show prints exactly what plan --out printed, text and JSON; sharded plans merge', { timeout: 60_000 }, () => {
    const plan = cli('plan', 'inv.ts', '--out', 'p0.json');
    expect(plan.code, plan.err).toBe(2);
    expect(plan.out).toMatch(/relay1[\s\S]*create \/etc\/mail\/authinfo/);
    const show = cli('show', 'p0.json');
    expect(show.code).toBe(2);
    expect(show.out).toBe(plan.out);
    const planJson = cli('plan', 'inv.ts', '--out', 'p0j.json', '--json');
    expect(cli('show', 'p0j.json', '--json').out).toBe(planJson.out);
    expect(JSON.parse(planJson.out).plan.id).toMatch(/^[0-9a-f]{32}$/);
    // one plan per shard; their JSON merges as the shards of one run
    // (2: changes pending, 0: a shard the hash gave no host)
    for (const i of [1, 2]) {
      const shard = cli('plan', 'inv.ts', '--shard', `${i}/2`, '--out', `s${i}.json`, '--json');
      expect([0, 2]).toContain(shard.code);
      writeFileSync(join(work, `s${i}.out`), shard.out);
    }
    const merged = cli('report', 'merge', 's1.out', 's2.out', '--json');
    expect(merged.code, merged.out + merged.err).toBe(2);
    expect(JSON.parse(merged.out).summary.hosts).toBe(2);
  });

  it('a hand edit on one host: that host is refused, the other applied; the same plan is refused the second time', {
    timeout: 120_000,
  }, async () => {
    expect(cli('plan', 'inv.ts', '--out', 'p1.json').code).toBe(2);
    // the hosts have no sendmail yet: the hand edit creates the access map the plan was to create
    const edit = await remote(sandbox.state, 1, "mkdir -p /etc/mail && printf 'Connect:10.9.9.9 RELAY\\n' >> /etc/mail/access");
    expect(edit.code, edit.stderr).toBe(0);
    const staleLine = /\/etc\/mail\/access changed since the plan: (sha256 [0-9a-f]{16} -> [0-9a-f]{16}|absent -> sha256 [0-9a-f]{16})/;
    // --dry-run only checks: relay2 is stale, relay1 would be applied
    const check = cli('apply', 'p1.json', '--dry-run', '--json');
    expect(check.code, check.err).toBe(4);
    expect(statuses(check.out)).toEqual({ relay1: 'pending', relay2: 'skipped' });
    // all or nothing: relay2 is stale, so relay1 is not applied either
    const none = cli('apply', 'p1.json', '--all-or-nothing', '--json');
    expect(none.code, none.err).toBe(4);
    expect(statuses(none.out)).toEqual({ relay1: 'skipped', relay2: 'skipped' });
    expect(none.out).toMatch(staleLine);
    expect((await remote(sandbox.state, 0, 'test -e /etc/mail/authinfo; echo $?')).stdout.trim()).toBe('1');

    const first = cli('apply', 'p1.json');
    expect(first.code, first.out + first.err).toBe(4);
    expect(first.out).toMatch(/relay2 refused:/);
    expect(first.out).toMatch(staleLine);
    expect(first.out).toMatch(/relay1\s.*changed/);
    expect(first.out).toMatch(/1 refused \(the saved plan no longer holds there\)/);
    expect((await remote(sandbox.state, 0, 'test -e /etc/mail/authinfo; echo $?')).stdout.trim()).toBe('0');
    // the refused host was not touched: the hand edit is still there
    expect((await remote(sandbox.state, 1, 'cat /etc/mail/access')).stdout).toContain('Connect:10.9.9.9 RELAY');

    const again = cli('apply', 'p1.json');
    expect(again.code).toBe(4);
    expect(again.out).toMatch(/relay1 refused:\n {2}this plan was already applied here \(generation \d+, complete/);
  });

  it('a plan file edited by hand is refused, and nothing is applied', { timeout: 60_000 }, () => {
    expect(cli('plan', 'inv.ts', '--out', 'p2.json').code).toBe(2);
    const text = readFileSync(planFile('p2.json'), 'utf8');
    const edited = text.replace(/"summary": "update \/etc\/mail\/access"/, '"summary": "a harmless change"');
    expect(edited).not.toBe(text);
    writeFileSync(planFile('p2.json'), edited);
    const r = cli('apply', 'p2.json');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/p2\.json: the plan file was changed after it was written \(its digest does not match\): make the plan again/);
    expect(r.out).toBe('');
    expect(cli('show', 'p2.json').code).toBe(1);
  });

  it('a rotated password makes the plan stale on every host it concerns', { timeout: 60_000 }, () => {
    expect(cli('plan', 'inv.ts', '--out', 'p3.json').code).toBe(2);
    writeFileSync(pwFile, 'rotated-Password-4711');
    try {
      const r = cli('apply', 'p3.json', '--json');
      expect(r.code, r.err).toBe(4);
      const hosts = (JSON.parse(r.out) as { hosts: { host: string; status: string; refused?: string[] }[] }).hosts;
      const byHost = Object.fromEntries(hosts.map((h) => [h.host, h]));
      // relay2 was to get the old password: the content it would write now differs from the plan's
      expect(byHost.relay2.refused).toContain(
        "/etc/mail/authinfo: the content it would write differs from the plan's (the inventory or a secret changed)",
      );
      // relay1 has it already: the plan had nothing for its authinfo, now there is a change
      expect(byHost.relay1.refused?.join('\n')).toMatch(/update \/etc\/mail\/authinfo.*: a change the plan does not have/);
      expect(r.out + r.err).not.toContain('rotated-Password-4711');
    } finally {
      copyFileSync(sandbox.state.smartHost.passwordFile, pwFile);
    }
  });

  it('random passwords never show in the plan file, its JSON or any output, nor as a fast digest', { timeout: 120_000 }, () => {
    const alphabet = ['"', "'", '\\', '$', '`', ' ', '%', '!', '*', 'é', '中', '🔑', '=', ':', ',', 'a', 'Z', '9', '{', '}'];
    let x = 20261207;
    const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
    const user = sandbox.state.smartHost.user;
    for (let seed = 1; seed <= 3; seed++) {
      let value = '';
      for (let i = 0, n = 10 + (next() % 14); i < n; i++) value += alphabet[next() % alphabet.length];
      writeFileSync(pwFile, value);
      const name = `r${seed}.json`;
      // the first on relay1 alone, to apply it: the smart host refuses the password and the host rolls back (the error paths)
      const outputs = [cli('plan', 'inv.ts', '--out', name, '--json', ...(seed === 1 ? ['--limit', 'relay1'] : [])), cli('show', name)];
      if (seed === 1) outputs.push(cli('apply', name));
      const all = outputs.map((o) => `${o.out}\n${o.err}`).join('\n') + readFileSync(planFile(name), 'utf8');
      const forms = passwordForms(value, user);
      for (const f of forms) expect(all.includes(f), `password form ${JSON.stringify(f)} leaked (seed ${seed})`).toBe(false);
      // what could hold it is digested with scrypt only: the authinfo fact, and the content written to it
      const plan = JSON.parse(readFileSync(planFile(name), 'utf8'));
      for (const h of plan.hosts) {
        const fact = h.facts.find((f: { key: string }) => f.key === 'file:/etc/mail/authinfo');
        if (fact.digest.startsWith('sha256:'))
          expect(fact.sha256).toBeNull(); // no file there: nothing to hide
        else expect(fact).not.toHaveProperty('sha256');
        const write = h.changes.find((c: { resourceId: string }) => c.resourceId === 'file:/etc/mail/authinfo');
        expect(write.steps[0].stdin).toMatch(/^scrypt:[0-9a-f]{64}$/);
      }
      if (seed === 1) expect(outputs[2].out).toMatch(/rolled back/);
    }
    copyFileSync(sandbox.state.smartHost.passwordFile, pwFile);
  });
});

describe('saved plans with --serial and --max-fail (three hosts)', () => {
  type Doc = { hosts: { host: string; status: string; error: string | null; refused?: string[]; alreadyApplied?: number }[] };
  const hostsOf = (json: string) => Object.fromEntries((JSON.parse(json) as Doc).hosts.map((h) => [h.host, h]));
  /** What a failed apply must leave as it was: the files under /etc/mail, sendmail or not, the journal. */
  const snapshot = async (i: number) =>
    (
      await remote(
        sandbox.state,
        i,
        'find /etc/mail -type f -exec sha256sum {} + 2>/dev/null | sort; command -v sendmail || echo no sendmail; ls /var/lib/mailprov/generations 2>/dev/null',
      )
    ).stdout;
  /** The journal's generations that carry this plan's id. */
  const generationsOf = async (i: number, planId: string) =>
    (
      await remote(sandbox.state, i, `grep -l '"plan": *"${planId}"' /var/lib/mailprov/generations/*/*.json 2>/dev/null; true`)
    ).stdout.trim();
  const planIdOf = (name: string) => (JSON.parse(readFileSync(planFile(name), 'utf8')) as { id: string }).id;

  it('a failing first host: the rollout stops there, rolled back, the others untouched; one more failure allowed stops it at the second', {
    timeout: 600_000,
  }, async () => {
    writeInventory('inv-a.ts', 3, "relayFrom: ['10.0.28'],");
    writeInventory('inv-b.ts', 3, "relayFrom: ['10.0.29'],");
    // relay1 first gets sendmail (a plain apply), so that its automatic rollback leaves it exactly as planned;
    // relay2 and relay3 have none (the tests before never applied a plan there)
    const base = cli('apply', 'inv-a.ts', '--limit', 'relay1');
    expect(base.code, base.out + base.err).toBe(0);
    expect(cli('plan', 'inv-b.ts', '--out', 'q1.json').code).toBe(2);
    const id = planIdOf('q1.json');
    const before = [await snapshot(1), await snapshot(2)];
    // the provider refuses the password for a while: each host's verification fails at AUTH, and it rolls back
    await setSmartHostMode(sandbox.state, { mode: 'normal', password: 'rotated-at-the-provider' });
    let wider: ReturnType<typeof cli>;
    try {
      const stopped = cli('apply', 'q1.json', '--serial', '1', '--max-fail', '0');
      expect(stopped.code, stopped.out + stopped.err).toBe(1);
      expect(stopped.out).toMatch(/relay1 failed:[\s\S]*rolled back to where it was/);
      expect(stopped.out).toMatch(
        /not applied on relay2, relay3:\n {2}not started: 1 host\(s\) failed, more than --max-fail 0\n {2}the plan was not applied there: `mailprov apply q1\.json` again applies it on each host where it still holds/,
      );
      expect(stopped.out).not.toMatch(/ refused:\n|refused \(the saved plan/);
      expect([await snapshot(1), await snapshot(2)]).toEqual(before);
      expect([await generationsOf(1, id), await generationsOf(2, id)]).toEqual(['', '']);
      expect(await generationsOf(0, id)).not.toBe('');
      // still refused, one more failure allowed: relay1 is tried again (its rollback undid it), relay2 fails
      // too (it installs sendmail first), and relay3 is not started
      wider = cli('apply', 'q1.json', '--serial', '1', '--max-fail', '1', '--json');
    } finally {
      await setSmartHostMode(sandbox.state, { mode: 'normal' });
    }
    expect(wider.code, wider.err).toBe(1);
    const w = hostsOf(wider.out);
    expect(w.relay1.status).toBe('rolled-back');
    expect(['rolled-back', 'failed']).toContain(w.relay2.status);
    expect([w.relay3.status, w.relay3.error]).toEqual(['skipped', 'not started: 2 host(s) failed, more than --max-fail 1']);
    expect(await generationsOf(2, id)).toBe('');
  });

  // the plan q1.json of the test above, after its two stopped rollouts
  it('once mended, the same plan finishes the rollout, but not on a host whose failed apply installed packages; then it is refused as applied', {
    timeout: 600_000,
  }, () => {
    // mended: relay1 was rolled back by itself, so the plan may be tried there again; relay3 was never
    // tried; relay2 is stale: the packages its failed apply installed stay (as after any automatic rollback)
    const mended = cli('apply', 'q1.json', '--serial', '1', '--max-fail', '0', '--json');
    expect(mended.code, mended.err).toBe(4);
    expect(statuses(mended.out)).toEqual({ relay1: 'changed', relay2: 'skipped', relay3: 'changed' });
    expect(hostsOf(mended.out).relay2.refused).toContainEqual(expect.stringMatching(/^the packages sendmail, .* changed since the plan$/));
    const again = cli('apply', 'q1.json', '--serial', '1', '--max-fail', '0', '--json');
    expect(again.code, again.err).toBe(4);
    const a = hostsOf(again.out);
    for (const h of [a.relay1, a.relay3]) {
      expect(h.status).toBe('skipped');
      expect(h.refused?.[0]).toMatch(/^this plan was already applied here \(generation \d+, complete/);
      expect(h.alreadyApplied).toEqual(expect.any(Number));
    }
    expect(a.relay2).not.toHaveProperty('alreadyApplied');
  });

  it('a stale first host is refused and does not count as failed: the rollout goes on; mended, --all-or-nothing applies it beside the hosts done before', {
    timeout: 600_000,
  }, async () => {
    // a relayFrom no host has yet: a change to each one's access map, whatever the tests before did
    writeInventory('inv-c.ts', 3, "relayFrom: ['10.0.30'],");
    expect(cli('plan', 'inv-c.ts', '--out', 'q2.json').code).toBe(2);
    const edit = await remote(
      sandbox.state,
      0,
      "cp -p /etc/mail/access /root/access.kept && printf 'Connect:10.9.9.9 RELAY\\n' >> /etc/mail/access",
    );
    expect(edit.code, edit.stderr).toBe(0);
    const r = cli('apply', 'q2.json', '--serial', '1', '--max-fail', '0', '--json');
    expect(r.code, r.err).toBe(4);
    const hosts = hostsOf(r.out);
    expect(statuses(r.out)).toEqual({ relay1: 'skipped', relay2: 'changed', relay3: 'changed' });
    expect(hosts.relay1.refused).toContainEqual(
      expect.stringMatching(/^\/etc\/mail\/access changed since the plan: sha256 [0-9a-f]{16} -> [0-9a-f]{16}$/),
    );
    expect((await remote(sandbox.state, 0, 'cat /etc/mail/access')).stdout).toContain('Connect:10.9.9.9 RELAY');

    // the hand edit undone: relay1 holds again; relay2 and relay3 are refused as applied before, which does not stop --all-or-nothing
    expect((await remote(sandbox.state, 0, 'cp -p /root/access.kept /etc/mail/access')).code).toBe(0);
    const rest = cli('apply', 'q2.json', '--all-or-nothing', '--serial', '1', '--max-fail', '0', '--json');
    expect(rest.code, rest.err).toBe(4);
    expect(statuses(rest.out)).toEqual({ relay1: 'changed', relay2: 'skipped', relay3: 'skipped' });
    expect(hostsOf(rest.out).relay2.refused?.[0]).toMatch(/^this plan was already applied here/);
  });
});
