// A small results object, as bench/run.ts writes bench/results.json: 1 and 10 hosts, 3 repetitions,
// made-up figures (not measured) chosen so that medians and ratios are easy to check by hand.
import type { BenchResults, Sample, Scenario, ScenarioName } from '../../../bench/results.ts';

const sample = (rep: number, seconds: number, more: Partial<Sample> = {}): Sample => ({
  rep,
  seconds,
  ok: true,
  detail: 'exit 0',
  load: [1 + rep / 10, 2 + rep / 10],
  ...more,
});
/** Three repetitions; the median is the middle argument. */
const reps = (low: number, mid: number, high: number, more: Partial<Sample> = {}) => [
  sample(1, high, more),
  sample(2, low, more),
  sample(3, mid, more),
];

const trace = (connectMs: number) => ({
  marks: [
    ['first host starts connecting (Node start, module loading, inventory loaded)', 900],
    ['process exited', 7000],
  ] as [string, number][],
  phases: [
    { phase: 'connecting (TCP, SSH handshake, auth; host lock for an apply)', medianMs: connectMs, maxMs: connectMs + 10 },
    { phase: 'applying: start sendmail', medianMs: 2000, maxMs: 2100 },
  ],
});

function scenarios(n: number, k: number): Scenario[] {
  const s = (name: ScenarioName, samples: Scenario['samples']): Scenario => ({ name, hosts: n, loadBefore: k, samples });
  return [
    s('dry run, fresh hosts', {
      mailprov: reps(0.3 * k, 0.35 * k, 0.4 * k, { maxRssKb: 76 * 1024, from: 'dist' }),
      mailprovNpx: reps(0.9 * k, 1 * k, 1.1 * k),
      ansible: reps(3.9 * k, 4 * k, 4.1 * k),
      floor: reps(0.19 * k, 0.2 * k, 0.21 * k),
    }),
    s('first apply', {
      mailprov: [
        sample(1, 7.1 * k, { trace: trace(75) }),
        sample(2, 6.9 * k, { trace: trace(70) }),
        sample(3, 7 * k, { trace: trace(80) }),
      ],
      ansible: reps(10.5 * k, 11 * k, 11.5 * k),
      byHand: reps(5.8 * k, 6 * k, 6.2 * k, {
        phases: [{ phase: 'connecting (ssh process, TCP, handshake, auth, shell)', medianMs: 250, maxMs: 260 }],
      }),
    }),
    s('no-op re-apply', {
      mailprov: reps(0.45 * k, 0.5 * k, 0.55 * k, { maxRssKb: 80 * 1024, from: 'dist' }),
      mailprovNpx: reps(1.1 * k, 1.2 * k, 1.3 * k),
      ansible: reps(3.9 * k, 4 * k, 4.1 * k),
      floor: reps(0.2 * k, 0.2 * k, 0.2 * k),
    }),
    s('dry run, converged hosts', {
      mailprov: reps(0.4 * k, 0.45 * k, 0.5 * k, { maxRssKb: 77 * 1024, from: 'dist' }),
      mailprovNpx: reps(0.95 * k, 1.05 * k, 1.15 * k),
      ansible: [sample(1, 3.8 * k), sample(2, 3.9 * k, { ok: false, detail: 'exit 2' }), sample(3, 4 * k)],
      floor: reps(0.21 * k, 0.22 * k, 0.23 * k),
    }),
  ];
}

export function fixtureResults(): BenchResults {
  return {
    format: 1,
    date: '2026-11-24T10:00:00.000Z',
    command: 'npm run bench -- --hosts 1,10 --reps 3',
    options: { hosts: [1, 10], reps: 3, live: false },
    mailprov: { measured: 'a snapshot of the checkout taken at the start', commit: '0123456789abcdef', uncommitted: [], bundleBuilt: true },
    machine: {
      cores: 2,
      memoryGiB: 23.5,
      cpu: 'Test CPU',
      kernel: '6.0.0',
      node: 'v20.20.2',
      npm: '11.19.1',
      ansible: 'ansible-playbook [core 2.14.18]',
      openssh: 'OpenSSH_9.2p1',
    },
    load: { before: [0.5, 0.6, 0.7], after: [1.5, 1.6, 1.7] },
    method: { timing: 'wall time' },
    scenarios: [...scenarios(1, 1), ...scenarios(10, 2)],
    cliStart: [
      { what: 'node -e 0 (bare Node start)', samples: [0.06, 0.05, 0.07] },
      { what: 'mailprov plan, 1 converged host, node bin/mailprov.mjs from src/ (tsx)', samples: [0.7, 0.6, 0.65] },
    ],
    profiles: [],
    equivalence: [],
    failures: ['N=1 dry run, converged hosts, ansible #2: exit 2'],
  };
}
