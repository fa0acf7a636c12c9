// The scheduling examples of docs/status.md, parsed as what they are (systemd units as INI, YAML with
// a YAML parser, the cron line field by field), and every `mailprov` command in them checked against
// the options the CLI reference (generated from main.ts) lists for that command.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = join(import.meta.dirname, '../../..');
const page = readFileSync(join(ROOT, 'docs/status.md'), 'utf8');
const cli = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');

/** Fenced blocks of a language ('' for none), in page order: a fence opens a block, the next closes it. */
function blocks(lang: string): string[] {
  const found: string[] = [];
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of page.split('\n')) {
    const fence = /^```(\S*)$/.exec(line);
    if (fence && !open) open = { lang: fence[1], lines: [] };
    else if (fence && open) {
      if (open.lang === lang) found.push(open.lines.join('\n') + '\n');
      open = undefined;
    } else open?.lines.push(line);
  }
  return found;
}

/** The options the CLI reference lists under `### mailprov <command>`. */
function optionsOf(command: string): Set<string> {
  const at = cli.indexOf(`### mailprov ${command} [options]`);
  expect(at, `docs/cli.md documents mailprov ${command}`).toBeGreaterThanOrEqual(0);
  const section = cli.slice(at, cli.indexOf('\n### ', at + 1));
  return new Set([...section.matchAll(/`(--[a-z-]+|-[A-Z])[ `,]/g)].map((m) => m[1]));
}

/** Each `mailprov <command> ...` in a text: its command and the options it passes. */
function mailprovCommands(text: string): { command: string; options: string[] }[] {
  const out: { command: string; options: string[] }[] = [];
  for (const m of text.matchAll(/mailprov"?,? "?(status|report merge|plan|apply)"?([^\n]*)/g)) {
    out.push({ command: m[1], options: [...m[2].matchAll(/(?<![\w-])(--[a-z-]+)/g)].map((o) => o[1]) });
  }
  return out;
}

function checkCommands(text: string, min = 1): void {
  const commands = mailprovCommands(text.replace(/\n\s+(?=--)/g, ' '));
  expect(commands.length).toBeGreaterThanOrEqual(min);
  for (const { command, options } of commands) {
    const known = optionsOf(command);
    for (const o of options) expect(known.has(o), `mailprov ${command} ${o} is an option of the CLI`).toBe(true);
  }
}

/** A cron field: *, a number, a range, a list, with an optional step, within its bounds. */
function cronField(field: string, min: number, max: number): boolean {
  return field.split(',').every((part) => {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return false;
    const [lo, hi, step] = [m[2], m[3], m[4]].map((v) => (v === undefined ? undefined : Number(v)));
    if (step !== undefined && step < 1) return false;
    return [lo, hi].every((v) => v === undefined || (v >= min && v <= max)) && (lo === undefined || hi === undefined || lo <= hi);
  });
}
const CRON_BOUNDS: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];
const validSchedule = (s: string) => {
  const f = s.trim().split(/\s+/);
  return f.length === 5 && f.every((x, i) => cronField(x, ...CRON_BOUNDS[i]));
};

describe('docs/status.md examples', () => {
  it('the systemd service and timer are INI with the keys systemd needs, the timer naming the service', () => {
    const [serviceText, timerText] = blocks('ini');
    expect(serviceText.split('\n')[0]).toBe('# /etc/systemd/system/mailprov-status.service');
    expect(timerText.split('\n')[0]).toBe('# /etc/systemd/system/mailprov-status.timer');
    const service = parseIni(serviceText);
    const timer = parseIni(timerText);
    expect(service.Service.Type).toBe('oneshot');
    expect(service.Service.ExecStart).toMatch(/^\/\S+\/mailprov status \S+ --prometheus \/\S+\.prom$/);
    checkCommands(service.Service.ExecStart);
    expect(timer.Timer.OnCalendar).toMatch(/\S/);
    expect(timer.Timer.Unit).toBe('mailprov-status.service');
    expect(timer.Install.WantedBy).toBe('timers.target');
    for (const unit of [service, timer]) expect(unit.Unit.Description).toMatch(/\S/);
  });

  it('the cron line has five valid time fields, a user (cron.d), and a status command writing the metrics', () => {
    const [cron] = blocks('cron');
    const lines = cron.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(lines).toHaveLength(1);
    const fields = lines[0].split(/\s+/);
    expect(validSchedule(fields.slice(0, 5).join(' ')), lines[0]).toBe(true);
    expect(fields[5]).toMatch(/^[a-z_][a-z0-9_-]*$/);
    expect(fields[6]).toMatch(/^\/\S+\/mailprov$/);
    expect(lines[0]).toMatch(/ status \S+ --prometheus \/\S+\.prom/);
    checkCommands(lines[0]);
    // the check itself can fail
    expect(validSchedule('*/5 * * *')).toBe(false);
    expect(validSchedule('61 * * * *')).toBe(false);
  });

  it('the Kubernetes CronJob is a batch/v1 CronJob with a valid schedule writing the metrics file on a volume', () => {
    const jobs = blocks('yaml').map((y) => parseYaml(y));
    const cronJob = jobs.find((j) => j.kind === 'CronJob');
    expect(cronJob.apiVersion).toBe('batch/v1');
    expect(validSchedule(cronJob.spec.schedule)).toBe(true);
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toMatch(/^(Never|OnFailure)$/);
    const [container] = pod.containers;
    const command = container.command.join(' ');
    checkCommands(command);
    const file = container.command[container.command.indexOf('--prometheus') + 1];
    const mounts = container.volumeMounts.map((m: { name: string; mountPath: string }) => m);
    const mount = mounts.find((m: { mountPath: string }) => file.startsWith(`${m.mountPath}/`));
    expect(mount, `${file} is on a mounted volume`).toBeDefined();
    expect(pod.volumes.map((v: { name: string }) => v.name)).toContain(mount.name);
  });

  it('the Indexed Job has as many completions as the n of --shard auto/n, and writes a result per index', () => {
    const job = blocks('yaml')
      .map((y) => parseYaml(y))
      .find((j) => j.kind === 'Job');
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.spec.completionMode).toBe('Indexed');
    const [container] = job.spec.template.spec.containers;
    const command = container.command.join(' ');
    const n = Number(/--shard auto\/(\d+)/.exec(command)?.[1]);
    expect(job.spec.completions).toBe(n);
    expect(command).toMatch(/\$JOB_COMPLETION_INDEX\.json/);
    checkCommands(command);
    // and the merge that follows it names one file per index
    const merge = /^npx mailprov report merge (.*)$/m.exec(page)?.[1].split(' ') ?? [];
    expect(merge).toEqual(Array.from({ length: n }, (_, i) => `/results/status-${i}.json`));
  });

  it('the GitHub Actions matrix has as many shards as --shard i/n says, and a merge job after it', () => {
    const workflow = blocks('yaml')
      .map((y) => parseYaml(y))
      .find((w) => w.jobs);
    expect(validSchedule(workflow.on.schedule[0].cron)).toBe(true);
    const status = workflow.jobs.status;
    const run = status.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    const n = Number(/--shard \$\{\{ matrix\.shard \}\}\/(\d+)/.exec(run)?.[1]);
    expect(status.strategy.matrix.shard).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    checkCommands(run);
    const report = workflow.jobs.report;
    expect(report.needs).toBe('status');
    const mergeRun = report.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    expect(mergeRun).toMatch(/mailprov report merge status-\*\/status\.json/);
    checkCommands(mergeRun);
  });

  it('the command lines at the top and the Nagios command use options the CLI has', () => {
    const plain = blocks('').join('\n');
    checkCommands(plain, 5);
  });
});
