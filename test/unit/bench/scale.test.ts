// The scale benchmark's pure parts: GNU time's figures, the 2-shard comparison, its section of latest.md.
import { describe, expect, it } from 'vitest';
import { parseTimeOutput } from '../../../bench/lib.ts';
import { compareShards } from '../../../bench/scale.ts';
import { scaleNotes, scaleSection, scaleTable } from '../../../bench/scale-report.ts';
import type { ScaleN, ScaleResults, ScaleRun } from '../../../bench/results.ts';
import type { MailprovJson } from '../../../bench/tools.ts';

describe('parseTimeOutput', () => {
  it('reads user + system CPU and the peak RSS, also after a failure line', () => {
    expect(parseTimeOutput('23.37 3.22 785440\n')).toEqual({ cpuSeconds: 26.59, maxRssKb: 785440 });
    expect(parseTimeOutput('Command exited with non-zero status 2\n1.50 0.25 120000\n')).toEqual({ cpuSeconds: 1.75, maxRssKb: 120000 });
    expect(parseTimeOutput('Command terminated by signal 9\n')).toEqual({});
  });
});

const host = (name: string, resources: string[]) => ({
  host: name,
  status: 'changed',
  durationMs: 5,
  error: null,
  changes: resources.map((r) => ({ resource: r, summary: `install ${r}`, commands: [] })),
});
const run = (...hosts: ReturnType<typeof host>[]): MailprovJson => ({
  ok: true,
  summary: { hosts: hosts.length, changes: hosts.reduce((s, h) => s + h.changes.length, 0), failed: 0 },
  hosts,
});

describe('compareShards', () => {
  const whole = run(host('relay1', ['a', 'b']), host('relay2', ['a']), host('relay3', ['a']));

  it('is the same when the shards cover every host once with the same changes', () => {
    const r = compareShards(whole, [run(host('relay2', ['a'])), run(host('relay1', ['a', 'b']), host('relay3', ['a']))]);
    expect(r).toEqual({
      same: true,
      detail: '1 + 2 hosts, each in one shard; the 3 hosts both reached planned the same changes (4 in the shards, 4 in the one run)',
    });
  });

  it('leaves out of the comparison a host that failed in either run, and says so', () => {
    const failed = { ...host('relay2', []), status: 'failed', error: 'relay2: cannot connect: Timed out while waiting for handshake' };
    const r = compareShards(whole, [run(failed as never), run(host('relay1', ['a', 'b']), host('relay3', ['a']))]);
    expect(r.same).toBe(true);
    expect(r.detail).toContain('the 2 hosts both reached planned the same changes');
    expect(r.detail).toContain('1 host(s) failed in one run or the other (not compared: relay2)');
  });

  it('tells a host in both shards, a missing host and a host planned differently', () => {
    expect(
      compareShards(whole, [run(host('relay1', ['a', 'b']), host('relay2', ['a'])), run(host('relay2', ['a']), host('relay3', ['a']))])
        .same,
    ).toBe(false);
    expect(compareShards(whole, [run(host('relay1', ['a', 'b'])), run(host('relay3', ['a']))]).detail).toContain('1 missing');
    const differ = compareShards(whole, [run(host('relay1', ['a'])), run(host('relay2', ['a']), host('relay3', ['a']))]);
    expect(differ.same).toBe(false);
    expect(differ.detail).toContain('1 planned differently (relay1)');
    expect(compareShards(undefined, [run(), run()]).same).toBe(false);
  });
});

const scale: ScaleResults = {
  date: '2026-11-23T23:40:00.000Z',
  command: 'npm run bench -- --scale 100',
  mailprovCommit: '0123456789abcdef',
  load: { before: [1, 1, 1], after: [2, 2, 2] },
  ns: [
    {
      hosts: 100,
      forks: 100,
      sandbox: { upSeconds: 9.5, downSeconds: 1.5, processes: 602, pssMbPerHost: 3.6, rssMbPerHost: 23.2, forwarderPssMb: 40.2 },
      runs: [
        {
          scenario: 'dry run, fresh hosts',
          tool: 'mailprov',
          seconds: 5,
          cpuSeconds: 4,
          maxRssKb: 204800,
          ok: true,
          detail: '',
          load: [1, 2],
        },
        { scenario: 'dry run, fresh hosts', tool: 'floor', seconds: 10, ok: true, detail: '', load: [2, 3] },
        {
          scenario: 'dry run, converged hosts',
          tool: 'ansible',
          seconds: 40,
          cpuSeconds: 60,
          maxRssKb: 102400,
          ok: false,
          detail: 'x',
          load: [3, 4],
        },
        { scenario: 'dry run, converged hosts', tool: 'floor', seconds: 8, ok: true, detail: '', load: [2, 3] },
      ],
      shards: { same: true, detail: '50 + 50 hosts' },
    },
  ],
  notes: ['converged at N=100 only'],
  failures: [],
};

describe('the scale section', () => {
  it('puts each controller run beside the floor of the same hosts in the same state', () => {
    const lines = scaleTable(scale).split('\n');
    expect(lines[2]).toMatch(
      /^\| 100 \| dry run, fresh hosts\s+\|\s+mailprov --forks 100 \|\s+5\.00 \|\s+4\.00 \|\s+200 \|\s+10\.00 \|\s+0\.50x \| 1, 2 \|$/,
    );
    expect(lines[3]).toMatch(/\|\s+ansible \(forks = N\) \|\s+40\.00 \(!\) \|\s+60\.00 \|\s+100 \|\s+8\.00 \|\s+5\.00x \|/);
    expect(lines).toHaveLength(4);
  });

  it('has the sandbox memory, the shard comparison and the notes', () => {
    const text = scaleSection(scale);
    expect(text).toContain('## At scale');
    expect(text).toMatch(/\| 100 \| sandbox up\/down \|\s+9\.50 \|\s+1\.50 \|\s+602 \|\s+3\.60 \|\s+23\.20 \|\s+40\.2 \|/);
    expect(text).toContain('- N=100: same: 50 + 50 hosts');
    expect(text).toContain('- converged at N=100 only');
  });
});

describe('scaleNotes', () => {
  const runOf = (scenario: ScaleRun['scenario'], tool: ScaleRun['tool'], seconds: number, maxRssKb?: number): ScaleRun => ({
    scenario,
    tool,
    seconds,
    ...(maxRssKb ? { maxRssKb } : {}),
    ok: true,
    detail: '',
    load: [1, 1],
  });
  const at1000 = (runs: ScaleRun[]): ScaleN => ({
    hosts: 1000,
    forks: 200,
    sandbox: { upSeconds: 70, processes: 6002, pssMbPerHost: 3.6, rssMbPerHost: 23, forwarderPssMb: 40 },
    runs,
  });
  const opts = { ns: [1000], forksCap: 200, convergeAt: [100], ansibleAt: [100] };

  it('says which targets a run met, from its own figures', () => {
    const notes = scaleNotes(opts, [
      at1000([runOf('dry run, fresh hosts', 'mailprov', 48.2, 270 * 1024), runOf('dry run, fresh hosts', 'floor', 176.5)]),
    ]);
    expect(notes).toContain(
      'Targets of issue 18 for the dry run over fresh hosts at N=1000 (the targets name converged hosts): within 30 s: NOT met (48.2 s); within 400 MB: met (270 MB peak RSS); at or below the floor: met (floor 176.5 s).',
    );
    expect(notes).toContain('mailprov ran with --forks 200 where N is larger (--scale-forks): at most 200 hosts at once.');
  });

  it('prefers the converged dry run, and says nothing of targets without N=1000', () => {
    const notes = scaleNotes({ ...opts, convergeAt: [1000] }, [
      at1000([runOf('dry run, fresh hosts', 'mailprov', 50), runOf('dry run, converged hosts', 'mailprov', 25, 300 * 1024)]),
    ]);
    expect(notes.at(-1)).toBe(
      'Targets of issue 18 for the dry run over converged hosts at N=1000: within 30 s: met (25.0 s); within 400 MB: met (300 MB peak RSS); at or below the floor: no floor measured.',
    );
    expect(scaleNotes({ ...opts, ns: [100] }, [{ ...at1000([]), hosts: 100 }]).some((n) => n.startsWith('Targets'))).toBe(false);
  });
});
