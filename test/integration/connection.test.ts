// A lost connection leaves nothing half-done (issue 34): the sandbox cuts a host's connection (its
// sessions' sshd processes end, and the forwarder refuses it for a while) at a step of a real apply;
// the step goes on on the host, detached, and the apply either completes after reconnecting, or leaves
// the host where the next apply completes from, saying what the cut-off step did. Ctrl-C is a request:
// the running steps finish, each host is rolled back, and the next apply completes.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sendmailSmartHost, type SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import type { EngineEvent, HostResult } from '../../src/engine/events.ts';
import { runHosts } from '../../src/engine/index.ts';
import { readHistory } from '../../src/engine/rollback-host.ts';
import { definePlaybook } from '../../src/playbook/index.ts';
import { file } from '../../src/resources/index.ts';
import { cutConnection, relaySettings, sandboxUp, type SandboxState } from '../../src/sandbox/index.ts';
import type { ReconnectPolicy } from '../../src/transport/reconnect.ts';
import { remote as remoteExec, sandboxInventory, stopSandbox } from './helpers.ts';

let state: SandboxState;
beforeAll(async () => {
  state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-conn-')), count: 4, centos: 1 });
});
afterAll(async () => {
  await stopSandbox(state);
});

const index = (name: string) => state.hosts.findIndex((h) => h.name === name);
const out = async (host: string, cmd: string) => (await remoteExec(state, index(host), cmd)).stdout;
const settings = (over: Partial<SendmailSettingsInput> = {}) => relaySettings(state, { openSmtpPort: false, ...over });
const sendmailOn = (hosts: string[], s = settings()) => sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(s) }], {}, hosts);
/** Enough to ride out a link down for a few seconds. */
const PATIENT: ReconnectPolicy = { attempts: 10, firstDelayMs: 300, maxDelayMs: 2000 };

/** Applies, calling `at` (once) when a host reaches the first event it matches. */
async function applyWith(
  host: string,
  inv: ReturnType<typeof sendmailOn>,
  at: { when: (e: EngineEvent) => boolean; inject: () => Promise<unknown> } | undefined,
  reconnect = PATIENT,
): Promise<{ result: HostResult; fault: unknown }> {
  let fault: Promise<unknown> = Promise.resolve('no fault injected');
  let fired = false;
  const emit = (e: EngineEvent) => {
    if (!at || fired || !at.when(e)) return;
    fired = true;
    fault = at.inject();
  };
  const [result] = await runHosts(
    inv.hosts.filter((h) => h.name === host),
    { dryRun: false, forks: 1, emit, reconnect, runDir: join(state.dir, `runs-${host}-${Date.now()}`) },
  );
  expect(fired).toBe(at !== undefined);
  return { result, fault: await fault };
}

/** The names of the processes running on the host now. */
const processNames = async (host: string) => (await out(host, 'cat /proc/[0-9]*/comm 2>/dev/null; true')).split('\n');

/** Resolves when the host's package manager runs (apt-get, dpkg, dnf or rpm): the package step is under way. */
async function packageManagerRunning(host: string): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < 120_000; )
    if ((await processNames(host)).some((p) => /^(apt-get|dpkg|dnf|rpm)$/.test(p))) return;
  throw new Error(`the package manager did not run on ${host} within 120 s`);
}

const phase = (detail: RegExp) => (e: EngineEvent) => e.kind === 'host-phase' && e.phase === 'applying' && detail.test(e.detail ?? '');
const lostFindings = (r: HostResult) => r.findings.filter((f) => f.code === 'connection-lost').map((f) => f.message);
const statuses = async (host: string) =>
  (await readHistory(sendmailOn([host]).hosts[0])).generations.map((g) => `${g.id}:${g.kind}:${g.status}`);
/** dpkg's own check: empty when no package is half-installed or half-configured. */
const dpkgAudit = (host: string) => out(host, 'dpkg --audit; echo "exit $?"');

describe('a lost connection leaves nothing half-done', () => {
  it('Debian: a cut during the package step is ridden out (reconnect, the wait resumes); dpkg is left whole; then cuts as make and the restart start', async () => {
    // the link stays down 3 s: the first reconnect attempts fail, a later one gets through
    const { result, fault } = await applyWith('relay1', sendmailOn(['relay1']), {
      when: phase(/^install /),
      inject: async () => {
        await packageManagerRunning('relay1');
        return cutConnection(state, 'relay1', { forSeconds: 3 });
      },
    });
    expect(fault).toMatchObject({ sessions: expect.any(Number) });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('changed');
    expect(lostFindings(result)).toEqual([
      expect.stringMatching(
        /^the connection was lost during "install sendmail, sendmail-cf, libsasl2-modules"; reconnected, and the step finished on the host at \d\d:\d\d:\d\d UTC with exit 0$/,
      ),
    ]);
    expect(await dpkgAudit('relay1')).toBe('exit 0\n');
    expect(await statuses('relay1')).toEqual(['1:apply:complete']);

    // a new mc: make, then the restart; the cut comes as each starts (its launch in flight or begun)
    for (const [n, step] of [
      [2, /^run make in /],
      [3, /^restart sendmail/],
    ] as const) {
      const s = settings({ defines: { confMAX_MESSAGE_SIZE: 1_000_000 + n } });
      const { result: r } = await applyWith('relay1', sendmailOn(['relay1'], s), {
        when: phase(step),
        inject: () => cutConnection(state, 'relay1', { forSeconds: 1 }),
      });
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('changed');
      expect(lostFindings(r).length).toBeGreaterThan(0);
      expect(await statuses('relay1')).toContain(`${n}:apply:complete`);
      // the live config is the one applied (the generation completed: sendmail restarted and verified)
      expect(await out('relay1', `grep -c '^O MaxMessageSize=${1_000_000 + n}$' /etc/mail/sendmail.cf`)).toBe('1\n');
    }
  });

  it('Debian: a silent drop (the host keeps the old session, and with it the lock): the reconnect takes back its own lock', async () => {
    const s = settings({ defines: { confMAX_MESSAGE_SIZE: 1_000_005 } });
    const { result } = await applyWith('relay1', sendmailOn(['relay1'], s), {
      when: phase(/^run make in /),
      inject: () => cutConnection(state, 'relay1', { forSeconds: 1, sessions: 'freeze' }),
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('changed');
    expect(lostFindings(result).length).toBeGreaterThan(0);
    expect(await out('relay1', "grep -c '^O MaxMessageSize=1000005$' /etc/mail/sendmail.cf")).toBe('1\n');
  });

  it('Debian: a cut during the automatic rollback is ridden out: the rollback runs again to its end', async () => {
    const failing = definePlaybook({
      name: 'failing',
      settings: z.object({}).strict(),
      // after make, before the restart: a file whose validation fails (never written, so nothing of it to rebuild)
      build: () => ({ resources: [file({ path: '/etc/mailprov-check.conf', content: 'x\n', validate: 'false %s' })] }),
    });
    const s = settings({ defines: { confMAX_MESSAGE_SIZE: 1_000_009 } });
    const inv = sandboxInventory(
      state,
      [
        { on: 'relays', use: sendmailSmartHost(s) },
        { on: 'relays', use: failing({}) },
      ],
      {},
      ['relay1'],
    );
    const before = await out('relay1', 'sha256sum /etc/mail/sendmail.mc');
    const { result } = await applyWith('relay1', inv, {
      when: (e) => e.kind === 'host-phase' && e.phase === 'rolling back',
      inject: () => cutConnection(state, 'relay1', { forSeconds: 1 }),
    });
    expect(result.error).toMatch(/mailprov-check\.conf/);
    expect(result.status).toBe('rolled-back');
    expect(lostFindings(result)).toEqual([
      'the connection was lost during the automatic rollback; reconnected, and the rollback was run again to the end',
    ]);
    expect(await out('relay1', 'sha256sum /etc/mail/sendmail.mc')).toBe(before);
    expect((await statuses('relay1')).at(-1)).toMatch(/:apply:rolled-back$/);
    // and the next apply completes from there
    const { result: next } = await applyWith('relay1', sendmailOn(['relay1'], s), undefined);
    expect(next.error).toBeUndefined();
    expect(next.status).toBe('changed');
  });

  it('Debian: a controller that cannot come back leaves the package step to finish on the host; the next apply says so and completes', async () => {
    // the link is down far longer than the reconnect attempts (two, within a second)
    const brief: ReconnectPolicy = { attempts: 2, firstDelayMs: 200, maxDelayMs: 400 };
    let downUntil = 0;
    const { result } = await applyWith(
      'relay2',
      sendmailOn(['relay2']),
      {
        when: phase(/^install /),
        inject: async () => {
          await packageManagerRunning('relay2');
          downUntil = (await cutConnection(state, 'relay2', { forSeconds: 6 })).downUntil;
        },
      },
      brief,
    );
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/connection was lost during "install [^"]+".*could not be brought back/s);
    // the link comes back (the sandbox says when): wait for the host to answer again
    while (Date.now() < downUntil) await new Promise((r) => setTimeout(r, 200));
    expect(await statuses('relay2')).toEqual(['1:apply:in-progress']);

    const { result: next } = await applyWith('relay2', sendmailOn(['relay2']), undefined);
    const said = next.findings.filter((f) => f.code === 'incomplete-generation').map((f) => f.message);
    expect(said[0]).toMatch(
      /^generation 1 was left incomplete: the connection of its run \(.+\) was lost during "install sendmail, sendmail-cf, libsasl2-modules"(; it finished on the host at \d\d:\d\d:\d\d UTC with exit 0 \(done\): rolling the generation back first|, which still runs on the host: waiting for it, then rolling the generation back)/,
    );
    expect(said.join('\n')).not.toMatch(/controller died/);
    expect(next.error).toBeUndefined();
    expect(next.status).toBe('changed');
    expect(await dpkgAudit('relay2')).toBe('exit 0\n');
    expect(await statuses('relay2')).toEqual(['1:apply:rolled-back', '2:apply:complete']);
  });

  it('CentOS-like: a cut during the package step (dnf) is ridden out, and the transaction is whole', async () => {
    const { result } = await applyWith('centos1', sendmailOn(['centos1']), {
      when: phase(/^install /),
      inject: async () => {
        await packageManagerRunning('centos1');
        return cutConnection(state, 'centos1', { forSeconds: 3 });
      },
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('changed');
    expect(lostFindings(result)).toEqual([
      expect.stringMatching(
        /^the connection was lost during "install sendmail, sendmail-cf, cyrus-sasl-plain"; reconnected, and the step finished on the host at .* with exit 0$/,
      ),
    ]);
    // every package of the transaction is installed and verifies, and no rpm or dnf is left running
    expect(await out('centos1', "rpm -q --qf '%{NAME}\\n' sendmail sendmail-cf cyrus-sasl-plain")).toBe(
      'sendmail\nsendmail-cf\ncyrus-sasl-plain\n',
    );
    expect(
      await out(
        'centos1',
        'rpm -V --nomtime --nomode --nouser --nogroup --nosize --nofiledigest sendmail sendmail-cf cyrus-sasl-plain >/dev/null; echo "exit $?"',
      ),
    ).toBe('exit 0\n');
    expect((await processNames('centos1')).filter((p) => /^(dnf|rpm)$/.test(p))).toEqual([]);
    expect(await statuses('centos1')).toEqual(['1:apply:complete']);
  });
});

describe('Ctrl-C is a request', () => {
  /** `mailprov apply` as a user runs it, in a folder of its own (its run logs go there). */
  function cli(inventory: string) {
    const cwd = mkdtempSync(join(state.dir, 'cli-'));
    const child = spawn(process.execPath, [resolve(__dirname, '../../bin/mailprov.mjs'), 'apply', inventory], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    /** The run's log of a host, once it exists. */
    const log = (host: string) => {
      const runs = join(cwd, '.mailprov', 'runs');
      const dir = existsSync(runs) ? readdirSync(runs)[0] : undefined;
      const file = dir && join(runs, dir, `${host}.log`);
      return file && existsSync(file) ? readFileSync(file, 'utf8') : '';
    };
    return { child, exited, log, output: () => output };
  }

  function inventoryFile(hosts: string[], playbook: string): string {
    const file = join(state.dir, `ctrl-c-${hosts.join('-')}.ts`);
    const entries = hosts.map((h) => `${h}: { address: '127.0.0.1', port: ${state.hosts[index(h)].port} }`).join(', ');
    writeFileSync(
      file,
      `import { defineInventory, secret, definePlaybook, command, file, z } from 'mailprov';
       import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
       ${playbook}
       export default defineInventory({
         defaults: { privateKey: ${JSON.stringify(state.privateKey)}, knownHosts: ${JSON.stringify(state.knownHosts)} },
         hosts: { ${entries} },
         playbooks: [{ use: PLAYBOOK }],
       });\n`,
    );
    return file;
  }

  const waitFor = async (what: string, test: () => boolean) => {
    for (const t0 = Date.now(); !test(); await new Promise((r) => setTimeout(r, 50)))
      if (Date.now() - t0 > 180_000) throw new Error(`timed out waiting for ${what}`);
  };

  it('a first SIGINT during the package step on two hosts: both steps finish, both hosts are rolled back and say so, exit 130; the next apply completes', async () => {
    const s = settings();
    const inv = inventoryFile(
      ['relay3', 'relay4'],
      `const PLAYBOOK = sendmailSmartHost({ smartHost: ${JSON.stringify(s.smartHost)}, smartHostPort: 587,
         auth: { user: ${JSON.stringify(state.smartHost.user)}, password: secret.file(${JSON.stringify(state.smartHost.passwordFile)}) },
         listen: ['0.0.0.0'], relayFrom: ['192.168'], openSmtpPort: false, verify: { recipient: 'ops@example.com' } });`,
    );
    const run = cli(inv);
    // the event: each host's log says its package step started
    await waitFor('both package steps', () => ['relay3', 'relay4'].every((h) => /apply 1\/\d+: install /.test(run.log(h))));
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    const said = run.output();
    expect(said).toMatch(/interrupted: no new host or step starts; each running step finishes on its host/);
    for (const h of ['relay3', 'relay4']) {
      expect(said).toMatch(new RegExp(`  ${h}: stopped after change 1 of \\d+ \\(install .*\\); generation 1 was rolled back`));
      // the step finished: the packages are installed whole, nothing half-configured
      expect(await dpkgAudit(h)).toBe('exit 0\n');
      expect(await out(h, "dpkg-query -W -f '${Status}' sendmail")).toBe('install ok installed');
      expect(await statuses(h)).toEqual(['1:apply:rolled-back']);
    }
    const results = await runHosts(sendmailOn(['relay3', 'relay4']).hosts, { dryRun: false, forks: 2, emit: () => {} });
    expect(results.map((r) => [r.host, r.status, r.error])).toEqual([
      ['relay3', 'changed', undefined],
      ['relay4', 'changed', undefined],
    ]);
  });

  it('a second SIGINT leaves at once, saying the step keeps running on the host; the next apply waits for it and completes', async () => {
    const inv = inventoryFile(
      ['relay4'],
      `const PLAYBOOK = definePlaybook({ name: 'slow', settings: z.object({}).strict(), build: () => ({ resources: [
         file({ path: '/etc/motd', content: 'slow\\n' }),
         command({ name: 'slow step', run: 'sleep 6 && touch /root/slow-step-done', onChangeOf: ['file:/etc/motd'] }) ] }) })({});`,
    );
    const gen = (await statuses('relay4')).length + 1;
    const run = cli(inv);
    await waitFor('the slow step', () => /apply 2\/2: run slow step/.test(run.log('relay4')));
    run.child.kill('SIGINT');
    await waitFor('the first interrupt to be taken', () => /interrupted: no new host/.test(run.output()));
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.output()).toMatch(
      /leaving at once: the steps already started keep running on the hosts .* the next `mailprov apply .*` waits for them and takes over/s,
    );
    expect(await out('relay4', 'test -e /root/slow-step-done && echo done || echo not yet')).toBe('not yet\n');

    const inventory = sandboxInventory(
      state,
      [
        {
          on: 'relays',
          use: definePlaybook({ name: 'motd', settings: z.object({}).strict(), build: () => ({ resources: [] }) })({}),
        },
      ],
      {},
      ['relay4'],
    );
    const [next] = await runHosts(inventory.hosts, { dryRun: false, forks: 1, emit: () => {} });
    expect(next.error).toBeUndefined();
    expect(next.findings.filter((f) => f.code === 'incomplete-generation').map((f) => f.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^generation ${gen} was left incomplete: .* during "slow step", which still runs on the host: waiting for it, then rolling the generation back$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^"slow step" of generation ${gen}, which was still running, finished on the host at \\d\\d:\\d\\d:\\d\\d UTC with exit 0$`,
        ),
      ),
    ]);
    // it ran to its end before the rollback
    expect(await out('relay4', 'test -e /root/slow-step-done && echo done')).toBe('done\n');
    expect((await statuses('relay4')).at(-1)).toBe(`${gen}:apply:rolled-back`);
  });
});
