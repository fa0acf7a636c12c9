import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  descendants,
  isRunning,
  killAndWait,
  killRecorded,
  madeNamespaces,
  type NamespaceReader,
  outsideSandbox,
  descendantOutside,
  parseProcStat,
  processTree,
  readProcStat,
  recordProcess,
  stopTree,
  type StatReader,
} from '../../../src/sandbox/processes.ts';

// A real stat line's layout: pid (comm) state ppid ... with the start time as field 22.
const statLine = (pid: number, comm: string, state: string, ppid: number, start: string) =>
  `${pid} (${comm}) ${state} ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${start} 2383872 201 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;

const reader =
  (lines: Record<number, string>): StatReader =>
  (pid) =>
    lines[pid];

describe('parseProcStat', () => {
  it('reads pid, state, parent and start time (field 22)', () => {
    expect(parseProcStat(statLine(4242, 'socat', 'S', 1, '987654'))).toEqual({ pid: 4242, state: 'S', ppid: 1, start: '987654' });
  });

  it('is not fooled by a command name with spaces and parentheses', () => {
    expect(parseProcStat(statLine(7, 'a) R 1 (b', 'S', 3, '555'))).toEqual({ pid: 7, state: 'S', ppid: 3, start: '555' });
  });

  it('refuses what is not a stat line', () => {
    expect(parseProcStat('')).toBeUndefined();
    expect(parseProcStat('7 (x) S 1')).toBeUndefined();
  });

  it('reads this very process from /proc', () => {
    const self = recordProcess(process.pid, 'me')!;
    expect(self.pid).toBe(process.pid);
    expect(self.start).toMatch(/^\d+$/);
  });
});

describe('isRunning: the recorded process, not just its pid', () => {
  const recorded = { pid: 4242, start: '987654', what: 'relay1 forwarder' };

  it('is true for the same pid with the same start time', () => {
    expect(isRunning(recorded, reader({ 4242: statLine(4242, 'socat', 'S', 1, '987654') }))).toBe(true);
  });

  it('is false when the pid now belongs to a process started at another time (a reused pid)', () => {
    expect(isRunning(recorded, reader({ 4242: statLine(4242, 'socat', 'S', 1, '1987654') }))).toBe(false);
    expect(isRunning(recorded, reader({ 4242: statLine(4242, 'bash', 'S', 1, '98765') }))).toBe(false);
  });

  it('is false when the process is gone or a zombie', () => {
    expect(isRunning(recorded, reader({}))).toBe(false);
    expect(isRunning(recorded, reader({ 4242: statLine(4242, 'socat', 'Z', 1, '987654') }))).toBe(false);
  });

  it('tells this process from a record of it with another start time', () => {
    const self = recordProcess(process.pid, 'me')!;
    expect(isRunning(self)).toBe(true);
    expect(isRunning({ ...self, start: String(Number(self.start) + 1) })).toBe(false);
  });
});

describe('descendants', () => {
  it('walks the tree below a pid, and only below it', () => {
    const tree = new Map([
      [
        10,
        [
          { pid: 11, state: 'S', ppid: 10, start: '1' },
          { pid: 12, state: 'S', ppid: 10, start: '2' },
        ],
      ],
      [12, [{ pid: 13, state: 'S', ppid: 12, start: '3' }]],
      [
        1,
        [
          { pid: 10, state: 'S', ppid: 1, start: '0' },
          { pid: 20, state: 'S', ppid: 1, start: '4' },
        ],
      ],
    ]);
    expect(descendants(10, tree).map((p) => [p.pid, p.start])).toEqual([
      [11, '1'],
      [12, '2'],
      [13, '3'],
    ]);
    expect(descendants(20, tree)).toEqual([]);
  });
});

describe('killRecorded', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const c of started) c.kill('SIGKILL');
  });
  const sleeper = () => {
    const c = spawn('sleep', ['300'], { stdio: 'ignore' });
    started.push(c);
    return c;
  };
  const alive = (pid: number) => !['Z', 'X', undefined].includes(parseProcStat(readProcStat(pid) ?? '')?.state);

  it('leaves alone a pid whose start time is not the recorded one, and kills the one that matches, with its children', async () => {
    // ours as the sandbox starts its processes: in a namespace made for it (an IPC one, as the smart host's)
    const [reused, ours] = [sleeper(), spawn('unshare', ['--ipc', 'sh', '-c', 'sleep 300 & wait'], { stdio: 'ignore' })];
    started.push(ours);
    // ready once its shell (in the new namespace) has forked its sleep: seen in /proc, not assumed after a delay
    const deadline = Date.now() + 30_000;
    while (!(madeNamespaces(ours.pid!).ipc && descendants(ours.pid!, processTree()).length)) {
      if (Date.now() > deadline) throw new Error('unshare --ipc sh -c "sleep 300 & wait" never forked its sleep');
      await sleep(20);
    }
    const rec = (pid: number) => ({ ...recordProcess(pid, 'x')!, ns: madeNamespaces(pid) });
    expect(rec(ours.pid!).ns).toEqual({ ipc: expect.stringMatching(/^ipc:\[\d+\]$/) });
    const child = descendants(ours.pid!, processTree())[0];
    expect(child).toBeDefined();
    const { left, refused } = await killRecorded([
      { ...rec(reused.pid!), start: String(Number(rec(reused.pid!).start) + 1) },
      rec(ours.pid!),
    ]);
    expect([left, refused]).toEqual([[], []]);
    expect(alive(reused.pid!)).toBe(true);
    expect(alive(ours.pid!)).toBe(false);
    expect(isRunning(child)).toBe(false);
  });
});

describe('the namespaces a recorded process must be in', () => {
  const SELF = { net: 'net:[1]', mnt: 'mnt:[2]', pid: 'pid:[3]', uts: 'uts:[4]', ipc: 'ipc:[5]' };
  const ns =
    (of: Record<number, Partial<typeof SELF>>): NamespaceReader =>
    (pid, kind) =>
      pid === 'self' ? SELF[kind] : of[pid]?.[kind];
  const host = { net: 'net:[101]', mnt: 'mnt:[102]', pid: 'pid:[3]', uts: 'uts:[104]', ipc: 'ipc:[105]' };
  const p = (pid: number, rec?: object) => ({ pid, start: '1', what: 'relay1 host', ...(rec ? { ns: rec } : {}) });

  it('reads those made for it: the ones it is in that this process is not', () => {
    expect(madeNamespaces(7, ns({ 7: host }))).toEqual({ net: 'net:[101]', mnt: 'mnt:[102]', uts: 'uts:[104]', ipc: 'ipc:[105]' });
    expect(madeNamespaces(8, ns({ 8: SELF }))).toEqual({});
  });

  it("lets down signal a process only in the namespaces recorded for it, none of them this machine's own", () => {
    const made = madeNamespaces(7, ns({ 7: host }));
    expect(outsideSandbox(p(7, made), ns({ 7: host }))).toBeUndefined();
    expect(outsideSandbox(p(7), ns({ 7: host }))).toBe(
      "recorded without the namespaces the sandbox made for it (not written by this mailprov's `sandbox up`)",
    );
    // a forged record naming a process of this machine, with its (our) namespaces
    expect(outsideSandbox(p(8, { net: 'net:[1]' }), ns({ 8: SELF }))).toBe(
      "its recorded net namespace net:[1] is this machine's own, not one the sandbox made",
    );
    // a record naming a namespace the process is not in (a pid reused in another container)
    expect(outsideSandbox(p(9, made), ns({ 9: { ...host, net: 'net:[999]' } }))).toBe(
      'it is in net namespace net:[999], not net:[101], which the sandbox made for it',
    );
    expect(descendantOutside(p(10), made, ns({ 10: { ...host, net: 'net:[555]' } }))).toBeUndefined(); // deeper inside
    expect(descendantOutside(p(11), made, ns({ 11: { ...host, mnt: 'mnt:[2]' } }))).toBe(
      "it is in this machine's own mnt namespace mnt:[2], outside the sandbox's",
    );
  });
});

describe('stopTree', () => {
  const ps = (pid: number, ppid: number) => ({ pid, state: 'S', ppid, start: String(pid * 10) });
  const rec = (pid: number) => ({ pid, start: String(pid * 10), what: 'x' });

  it('stops a child forked after the first read of the tree, and its children, by reading again', () => {
    // the first read shows 10 -> 11; 11 forks 12 (and 12 forks 13) before 11 is stopped
    const reads = [
      new Map([[10, [ps(11, 10)]]]),
      new Map([
        [10, [ps(11, 10)]],
        [11, [ps(12, 11)]],
        [12, [ps(13, 12)]],
      ]),
    ];
    let n = 0;
    const stopped: number[] = [];
    const all = stopTree(
      [rec(10)],
      () => reads[Math.min(n++, reads.length - 1)],
      (p) => stopped.push(p.pid),
    );
    expect(stopped).toEqual([10, 11, 12, 13]);
    expect(all.map((p) => p.pid)).toEqual([10, 11, 12, 13]);
    // a last read showed nothing new
    expect(n).toBe(3);
  });

  it('stops nothing outside the targets trees', () => {
    const tree = new Map([
      [1, [ps(10, 1), ps(20, 1)]],
      [20, [ps(21, 20)]],
    ]);
    const stopped: number[] = [];
    stopTree(
      [rec(10)],
      () => tree,
      (p) => stopped.push(p.pid),
    );
    expect(stopped).toEqual([10]);
  });
});

describe('killAndWait', () => {
  it('kills again while any still runs, and returns once none does', async () => {
    const lives = new Map([
      [1, 1],
      [2, 3],
    ]);
    const kills: number[] = [];
    const left = await killAndWait(
      [1, 2].map((pid) => ({ pid, start: '1', what: 'x' })),
      5000,
      (p) => (lives.get(p.pid) ?? 0) > 0,
      (p) => {
        kills.push(p.pid);
        lives.set(p.pid, lives.get(p.pid)! - 1);
      },
      async () => {},
    );
    expect(left).toEqual([]);
    expect(kills).toEqual([1, 2, 2, 2]);
  });

  it('returns what survives the deadline', async () => {
    const left = await killAndWait(
      [{ pid: 7, start: '1', what: 'relay1 host' }],
      30,
      () => true,
      () => {},
      () => sleep(10),
    );
    expect(left.map((p) => p.pid)).toEqual([7]);
  });
});
