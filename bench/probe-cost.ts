// `node --import tsx bench/probe-cost.ts [--hosts 10] [--reps 5]`: what the smart-host probe costs a
// changing apply. On N converged sandbox hosts, applies that change one small thing (the access map,
// so no restart) alternate with the probe on and off; the figure is the ratio of the medians, and
// the difference per host, measured in the same run (the machine is shared and noisy). The result
// replaces the section between the markers in bench/latest.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendmailSmartHost } from '../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../src/engine/index.ts';
import { resolveInventory } from '../src/inventory/load.ts';
import { relaySettings, sandboxDown, sandboxUp, type SandboxState } from '../src/sandbox/index.ts';
import { median } from './lib.ts';
import { ROOT } from './tools.ts';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
const N = option('--hosts', 10);
const REPS = option('--reps', 5);
const log = (l: string) => process.stderr.write(`[probe-cost] ${l}\n`);

function inventory(state: SandboxState, probe: boolean, rep: number) {
  // a new network each time: access and its map change, nothing is restarted
  const settings = relaySettings(state, { verify: undefined, probeSmartHost: probe, relayFrom: ['192.168', `10.${rep % 250}`] });
  return resolveInventory(
    {
      defaults: { user: 'root', privateKey: state.privateKey, knownHosts: state.knownHosts, hostKeyPolicy: 'strict' },
      hosts: Object.fromEntries(state.hosts.map((h) => [h.name, { address: '127.0.0.1', port: h.port }])),
      playbooks: [{ use: sendmailSmartHost(settings) }],
    },
    join(state.dir, 'bench-inventory.ts'),
  );
}

async function applySeconds(state: SandboxState, probe: boolean, rep: number): Promise<number> {
  const inv = inventory(state, probe, rep);
  const t0 = performance.now();
  const results = await runHosts(inv.hosts, { dryRun: false, forks: N, emit: () => {} });
  const seconds = (performance.now() - t0) / 1000;
  const bad = results.filter((r) => r.status !== 'changed');
  if (bad.length)
    throw new Error(
      `apply (probe ${probe}) did not change every host: ${bad.map((r) => `${r.host} ${r.status} ${r.error ?? ''}`).join('; ')}`,
    );
  return seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-probe-cost-'));
  const loadBefore = loadavg()[0];
  const state = await sandboxUp({ dir, count: N });
  try {
    log(`converging ${N} hosts`);
    await applySeconds(state, true, 0);
    const on: number[] = [];
    const off: number[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      // turns alternate, and which goes first alternates too
      const order = rep % 2 ? [true, false] : [false, true];
      for (const probe of order) (probe ? on : off).push(await applySeconds(state, probe, rep * 2 + (probe ? 1 : 0)));
      log(`rep ${rep}: probe on ${on.at(-1)!.toFixed(2)} s, off ${off.at(-1)!.toFixed(2)} s`);
    }
    const mOn = median(on);
    const mOff = median(off);
    const section = [
      '<!-- probe-cost:start -->',
      `## The smart-host probe on a changing apply (N=${N})`,
      '',
      `Written by \`node --import tsx bench/probe-cost.ts --hosts ${N} --reps ${REPS}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `(${cpus().length} cores, load average ${loadBefore.toFixed(1)} before). Applies that change the access map only (no`,
      'restart), the probe on and off in alternating turns; medians of the wall time of the engine run.',
      '',
      '| probe | median s | extra s (all hosts, in parallel) | on/off |',
      '| :---- | -------: | -----------------: | -----: |',
      `| off   | ${mOff.toFixed(2)} | | |`,
      `| on    | ${mOn.toFixed(2)} | ${(mOn - mOff).toFixed(2)} | ${(mOn / mOff).toFixed(2)}x |`,
      '',
      'The probe is one SMTP session from each host (greeting, EHLO, STARTTLS, EHLO, AUTH, QUIT) plus one',
      "remote command to read the host's CA bundle (parsed once per run for hosts that share it); hosts",
      'probe in parallel, as they apply.',
      '<!-- probe-cost:end -->',
    ].join('\n');
    const file = join(ROOT, 'bench/latest.md');
    const text = readFileSync(file, 'utf8');
    const re = /<!-- probe-cost:start -->[\s\S]*<!-- probe-cost:end -->/;
    writeFileSync(file, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
    process.stdout.write(`${section}\n`);
  } finally {
    await sandboxDown({ dir });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
