// The detached step's shell, run for real under dash and bash in a temp folder (flock and setsid from
// util-linux, as on the hosts): a step outlives the command that started it, its input arrives whole
// or it does not start, its exit status and output are read back by a later wait, and the folder
// tells finished, running, died and never started apart. No root, no sandbox host.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchScript, parseStepReport, parseStepsStatus, stepsStatusScript, waitScript } from '../../../src/transport/detached.ts';
import { sh } from '../../../src/transport/quote.ts';

const shells = ['/bin/dash', '/bin/bash'];
const run = (shell: string, script: string, input = '') => spawnSync(shell, ['-c', script], { input, encoding: 'utf8' });

describe.each(shells)('detached steps under %s', (shell) => {
  const gen = () => mkdtempSync(join(tmpdir(), "gen it's-"));

  it('runs the step with its input, reports its output and real exit status, and keeps its files 0600', () => {
    const g = gen();
    const dir = join(g, 'steps', '1-001');
    const input = "pass'word $x\n";
    const r = run(shell, launchScript(dir, 'umask; cat; echo to-stderr >&2; exit 3', 'a step', Buffer.byteLength(input)), input);
    expect(r.status).toBe(0);
    // the step ran with the session's umask, not the folder's 077
    expect(r.stdout).toBe(`${run(shell, 'umask').stdout}${input}`);
    const report = parseStepReport(r.stderr);
    expect(report).toEqual({
      outcome: { state: 'finished', code: 3, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
      stderr: 'to-stderr\n',
    });
    // the input file went as the step started; what stays is the owner's alone
    expect(readdirSync(dir).sort()).toEqual(['cmd', 'err', 'label', 'lock', 'out', 'started', 'status']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o077).toBe(0);
    expect(statSync(dir).mode & 0o077).toBe(0);
    // a later wait reads the same report back
    expect(parseStepReport(run(shell, waitScript(dir)).stderr).outcome).toEqual(report.outcome);
  });

  it('does not start a step whose input was cut short, and does not reuse a folder', () => {
    const g = gen();
    const dir = join(g, 'steps', '1-001');
    const r = run(shell, launchScript(dir, 'touch ran', 'a step', 10), 'short');
    expect(r.status).toBe(120);
    expect(r.stderr).toMatch(/did not arrive whole/);
    expect(parseStepReport(run(shell, waitScript(dir)).stderr).outcome).toEqual({ state: 'not-started' });
    expect(run(shell, launchScript(dir, 'true', 'again', 0)).stderr).toMatch(/exists already/);
    // a step that takes no input is not started on input it did not expect either
    const none = join(g, 'steps', '1-002');
    const extra = run(shell, launchScript(none, 'touch ran', 'a step', 0), 'stray');
    expect(extra.status).toBe(120);
    expect(extra.stderr).toMatch(/did not arrive whole/);
    expect(existsSync(join(none, 'stdin'))).toBe(false);
  });

  it('what runs before the step (the backup) stops it when it fails, with its own exit status and message', () => {
    const g = gen();
    const dir = join(g, 'steps', '1-001');
    const marker = join(g, 'ran');
    const r = run(shell, launchScript(dir, sh`touch ${marker}`, 'write x', 0, "echo 'cannot back up' >&2; exit 97"));
    expect([r.status, r.stderr]).toEqual([97, 'cannot back up\n']);
    expect(existsSync(marker)).toBe(false);
    expect(parseStepReport(run(shell, waitScript(dir)).stderr).outcome).toEqual({ state: 'not-started' });
    // and a backup that works lets the step run
    const ok = run(shell, launchScript(join(g, 'steps', '2-001'), sh`touch ${marker}`, 'write x', 0, 'true'));
    expect(parseStepReport(ok.stderr).outcome).toMatchObject({ state: 'finished', code: 0 });
    expect(existsSync(marker)).toBe(true);
  });

  it('a wait for a folder that is not there claims it: a launcher arriving late does not start the step', () => {
    const dir = join(gen(), 'steps', '1-001');
    expect(parseStepReport(run(shell, waitScript(dir)).stderr).outcome).toEqual({ state: 'not-started' });
    expect(run(shell, launchScript(dir, 'true', 'late', 0)).status).toBe(120);
  });

  it('the step outlives the command that started it (killed, as a session that ends); the folder says running, then finished', async () => {
    const g = gen();
    const dir = join(g, 'steps', '1-001');
    const marker = join(g, 'done');
    const launcher = spawn(shell, ['-c', launchScript(dir, sh`sleep 1; echo ok > ${marker}`, 'slow step', 0)], { stdio: 'pipe' });
    launcher.stdin.end();
    // the launcher waits on the step once it started it: the started file says so
    for (const t0 = Date.now(); !(existsSync(dir) && readdirSync(dir).includes('started')); await new Promise((r) => setTimeout(r, 10)))
      if (Date.now() - t0 > 5000) throw new Error('the step did not start');
    const gone = new Promise((r) => launcher.once('exit', r));
    launcher.kill('SIGKILL');
    await gone;
    const listing = run(shell, stepsStatusScript([{ id: 4, dir: g }]));
    expect(parseStepsStatus(listing.stdout)).toEqual([{ gen: 4, name: '1-001', label: 'slow step', outcome: { state: 'running' } }]);
    // a new wait blocks until the step is over, then reports it
    const after = run(shell, waitScript(dir));
    expect(parseStepReport(after.stderr).outcome).toMatchObject({ state: 'finished', code: 0 });
    expect(run(shell, sh`cat ${marker}`).stdout).toBe('ok\n');
  });

  it('a step that died (no status written) reads as died, not finished', () => {
    const g = gen();
    const dir = join(g, 'steps', '1-001');
    run(shell, sh`mkdir -p ${dir} && : > ${`${dir}/lock`} && : > ${`${dir}/started`} && echo 'a step' > ${`${dir}/label`}`);
    expect(parseStepReport(run(shell, waitScript(dir)).stderr).outcome).toEqual({ state: 'died' });
    expect(parseStepsStatus(run(shell, stepsStatusScript([{ id: 2, dir: g }])).stdout)).toEqual([
      { gen: 2, name: '1-001', label: 'a step', outcome: { state: 'died' } },
    ]);
  });
});

describe('parseStepsStatus', () => {
  it('skips lines that are not a step folder (the folder is input from the host)', () => {
    expect(parseStepsStatus('3\t../x\trunning\tl\n3\t1-001\tfinished 0 2026-12-07T01:02:03Z\tinstall x\nnoise\n')).toEqual([
      { gen: 3, name: '1-001', label: 'install x', outcome: { state: 'finished', code: 0, at: '2026-12-07T01:02:03Z' } },
    ]);
  });
});
