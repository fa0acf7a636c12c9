// The command line: parses options and lazy-loads one module per command. This is the one place
// that catches mailprov's errors and maps them to text and exit codes.
import { Command, InvalidArgumentError } from 'commander';
import { describeError, exitCodeOf } from '../errors.ts';
import { version } from './version.ts';
import { redact } from '../secrets/index.ts';
import { traced, traceReport, traceSpan } from '../trace.ts';
import type { CheckCommandOptions } from './check.ts';
import type { InitCommandOptions } from './init.ts';
import type { RunCommandOptions } from './run.ts';
import type { ForgetCommandOptions } from './forget-secrets.ts';
import type { HistoryCommandOptions, RollbackCommandOptions } from './rollback.ts';
import type { MergeCommandOptions } from './report.ts';
import type { StatusCommandOptions } from './status.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

function debianRelease(value: string): 12 | 13 {
  if (value === '12' || value === '13') return Number(value) as 12 | 13;
  throw new InvalidArgumentError('expected 13 (trixie, the default) or 12 (bookworm)');
}

/** `--release-of relay2=12`, repeatable: one host of another release, for a mixed fleet. */
function releaseOf(value: string, previous: Record<string, 12 | 13> = {}): Record<string, 12 | 13> {
  const m = /^([A-Za-z0-9-]+)=(.*)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected host=release, e.g. relay2=12');
  return { ...previous, [m[1]]: debianRelease(m[2]) };
}

const INVENTORY_HELP = 'inventory file (.ts, or an Ansible INI or YAML host list)';
const ASK_KEY_PASS = 'ask once for the passphrase of an encrypted key file that has no privateKeyPassphraseEnv';
const SHARD_HELP =
  'only the hosts of shard i of n (e.g. 2/3), by a hash of each host name, after --limit/--host; auto/n takes i from $JOB_COMPLETION_INDEX (0-based)';

export async function main(argv: string[]): Promise<number> {
  // MAILPROV_TRACE: Node's start and the bundle's modules, up to here, are the first phase
  traceSpan('module load', 0)();
  try {
    return await runMain(argv);
  } finally {
    process.stderr.write(traceReport());
  }
}

async function runMain(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('mailprov')
    .description('Provision sendmail smart-host relays over SSH: plan, apply, sandbox')
    .version(version(), '-V, --version', 'print the version of mailprov')
    .showHelpAfterError()
    .exitOverride();

  // every command that connects reads ssh_config the same way
  const sshConfigOptions = (cmd: Command) =>
    cmd
      .option('--ssh-config <file>', 'read this ssh_config file instead of ~/.ssh/config (the inventory still wins)')
      .option('--no-ssh-config', 'read no ssh_config file');

  const runOptions = (cmd: Command, argument: [string, string] = ['<inventory>', INVENTORY_HELP]) =>
    sshConfigOptions(cmd)
      .argument(...argument)
      .option('--limit <hosts>', 'only these hosts or groups (comma separated)')
      .option('--shard <i/n>', SHARD_HELP)
      .option('--forks <n>', 'hosts worked on at once', positiveInt, 20)
      .option('--json', 'print one JSON document instead of text')
      .option('--with <playbooks.ts>', 'for Ansible host lists: a module whose default export is the playbooks bindings')
      .option('-K, --ask-sudo-pass', 'ask once for the sudo password of hosts with sudo: true and no sudoPasswordEnv')
      .option('--ask-key-pass', ASK_KEY_PASS);

  runOptions(program.command('apply'), [
    '<inventory-or-planfile>',
    `${INVENTORY_HELP}, or a plan file written by \`plan --out\` (told apart by content): applies exactly that plan on each host where it still holds`,
  ])
    .description(
      'change what differs on every host, validate, restart only when needed, verify. ' +
        'With a plan file: exit 0 applied, 1 a host failed (the hosts --max-fail then left are not applied), ' +
        '4 a host (or the whole plan) was refused as stale or already applied, or not applied because of --all-or-nothing',
    )
    .option(
      '--dry-run',
      'plan only: show what would change, change nothing (same as `plan`); with a plan file: check which hosts it still holds for',
    )
    .option(
      '--all-or-nothing',
      'with a plan file: apply no host unless the plan still holds on every host not already applied with it (each is checked first)',
    )
    .option('--probe', 'with --dry-run: also run the read-only probes (as `plan --probe`)')
    .option('--verify', 'verify hosts even when nothing changed')
    .option('--serial <n>', 'apply in batches of n hosts (or n%), like Ansible serial')
    .option(
      '--max-fail <k>',
      'stop the rollout once more than k hosts failed (a host a plan file refuses is not failed: the rollout goes on)',
      wholeNumber,
    )
    .action(async (inventory: string, opts: RunCommandOptions) => {
      const { runCommand } = await traced('module load', () => import('./run.ts'));
      exitCode = await runCommand(inventory, opts, opts.dryRun ? 'plan' : 'apply');
    });

  runOptions(program.command('plan'))
    .description('show what apply would change (exit 0: nothing, 2: changes pending, 1: error)')
    .option(
      '--out <file>',
      'also save the plan to this file, for review and `apply FILE`; stdout is then the plan as `show FILE` prints it',
    )
    .option(
      '--probe',
      "also run the playbooks' read-only probes from each host (the smart host's TLS and credentials; the sender domain's SPF and DMARC), changing nothing",
    )
    .action(async (inventory: string, opts: RunCommandOptions) => {
      const { runCommand } = await traced('module load', () => import('./run.ts'));
      exitCode = await runCommand(inventory, opts, 'plan');
    });

  sshConfigOptions(program.command('status'))
    .description(
      'is mail flowing? per host, read-only (no lock, no journal entry): drift (changes pending), sendmail and where it listens, ' +
        'the queue and why it waits, the last delivery to the smart host and the last failure in the mail log ' +
        '(exit 0: all ok, 2: a host needs attention, 3: a host unreachable or unreadable, 1: error; ' +
        'with --prometheus: 0 once the file is written; with --nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)',
    )
    .argument('<inventory>', 'inventory file (.ts, or an Ansible INI or YAML host list)')
    .option('--limit <hosts>', 'only these hosts or groups (comma separated)')
    .option('--shard <i/n>', SHARD_HELP)
    .option('--forks <n>', 'hosts read at once', positiveInt, 20)
    .option('--json', 'print one JSON document instead of the table')
    .option('--probe', "also probe the smart host from each host (TLS, credentials, the certificate's expiry), as `plan --probe`")
    .option('--prometheus <file>', "write the figures in node_exporter's textfile-collector format to this file (atomically)")
    .option('--nagios', 'print one Nagios plugin status line with performance data, and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .option('--warn-queue <n>', 'with --nagios: WARNING above this many queued messages (default 10)')
    .option('--crit-queue <n>', 'with --nagios: CRITICAL above this many queued messages (default 100)')
    .option('--warn-age <duration>', 'with --nagios: WARNING when the oldest queued message is older (600, 30m, 2h, 1d; default 30m)')
    .option('--crit-age <duration>', 'with --nagios: CRITICAL when the oldest queued message is older (default 2h)')
    .option('--warn-cert <duration>', "with --nagios: WARNING when the relay's own certificate (submission) expires sooner (default 30d)")
    .option('--crit-cert <duration>', 'with --nagios: CRITICAL when it expires sooner, or has expired (default 7d)')
    .option('--with <playbooks.ts>', 'for Ansible host lists: a module whose default export is the playbooks bindings')
    .option('-K, --ask-sudo-pass', 'ask once for the sudo password of hosts with sudo: true and no sudoPasswordEnv')
    .option('--ask-key-pass', ASK_KEY_PASS)
    .action(async (inventory: string, opts: StatusCommandOptions) => {
      const { statusCommand } = await import('./status.ts');
      exitCode = await statusCommand(inventory, opts);
    });

  program
    .command('show')
    .description('print a plan file as `plan --out` printed it (diffs masked), after checking it was not changed (exit 2: changes pending)')
    .argument('<planfile>', 'a plan file written by `plan --out`')
    .option('--json', 'print the JSON `plan --out --json` printed')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { showCommand } = await import('./plan-file.ts');
      exitCode = showCommand(file, opts);
    });

  sshConfigOptions(program.command('check'))
    .description('load the inventory, open its key files and lint its playbooks, contacting no host (exit 1: a host would fail)')
    .argument('<inventory>', 'inventory file (.ts, or an Ansible INI or YAML host list)')
    .option('--limit <hosts>', 'only these hosts or groups (comma separated)')
    .option('--with <playbooks.ts>', 'for Ansible host lists: a module whose default export is the playbooks bindings')
    .option('--ask-key-pass', ASK_KEY_PASS)
    .action(async (inventory: string, opts: CheckCommandOptions) => {
      const { checkCommand } = await import('./check.ts');
      exitCode = await checkCommand(inventory, opts);
    });

  program
    .command('init')
    .description('write a commented starter inventory (inventory.ts) into dir')
    .argument('[dir]', 'folder to write it in (created if needed)', '.')
    .option('--force', 'replace an existing inventory.ts')
    .action(async (dir: string, opts: InitCommandOptions) => {
      const { initCommand } = await import('./init.ts');
      exitCode = initCommand(dir, opts);
    });

  sshConfigOptions(program.command('history'))
    .description("list each host's generations (recorded on the host; the newest keepGenerations, default 10, are kept)")
    .argument('<inventory>', 'inventory file')
    .option('--host <hosts>', 'only these hosts or groups')
    .option('--shard <i/n>', SHARD_HELP)
    .option('--json', 'print JSON')
    .option('--ask-key-pass', ASK_KEY_PASS)
    .action(async (inventory: string, opts: HistoryCommandOptions) => {
      const { historyCommand } = await import('./rollback.ts');
      exitCode = await historyCommand(inventory, opts);
    });

  sshConfigOptions(program.command('rollback'))
    .description('return a host to an earlier generation: restore files, remove added firewall rules, rebuild, restart, verify')
    .argument('<inventory>', 'inventory file')
    .requiredOption('--host <host>', 'the host to roll back')
    .option('--to <generation>', 'generation to return to (default: the one before the latest)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a generation number');
      return n;
    })
    .option('--dry-run', 'show what the rollback would change, change nothing')
    .option('--packages', 'also remove the packages the undone generations installed')
    .option('--json', 'print JSON')
    .option('-K, --ask-sudo-pass', 'ask for the sudo password (a host with sudo: true and no sudoPasswordEnv)')
    .option('--ask-key-pass', ASK_KEY_PASS)
    .action(async (inventory: string, opts: RollbackCommandOptions) => {
      const { rollbackCommand } = await import('./rollback.ts');
      exitCode = await rollbackCommand(inventory, opts);
    });

  sshConfigOptions(program.command('forget-secrets'))
    .description(
      'remove the saved copies of sensitive files (old authinfo passwords) from every generation of the hosts; ' +
        'a later rollback keeps the current file for those',
    )
    .argument('<inventory>', 'inventory file')
    .option('--host <hosts>', 'only these hosts or groups (default: all)')
    .option('--shard <i/n>', SHARD_HELP)
    .option('--dry-run', 'count the copies, remove nothing (exit 2 when there are some)')
    .option('--json', 'print JSON')
    .option('-K, --ask-sudo-pass', 'ask for the sudo password (hosts with sudo: true and no sudoPasswordEnv)')
    .option('--ask-key-pass', ASK_KEY_PASS)
    .action(async (inventory: string, opts: ForgetCommandOptions) => {
      const { forgetSecretsCommand } = await import('./forget-secrets.ts');
      exitCode = await forgetSecretsCommand(inventory, opts);
    });

  const report = program.command('report').description('work with the --json results of earlier runs');
  report
    .command('merge')
    .description(
      'merge the --json results of plan, apply or status shards into one summary, with the exit code one run over all their hosts ' +
        'would have had (plan and apply: 0, 1 a host failed, 2 a plan with changes pending, 4 a saved plan refused on a host; status: its own codes); ' +
        '3 when the files are not the shards of one run (one command, one inventory, one --limit, one n, each shard once, each host in its own shard)',
    )
    .argument('<files...>', 'the JSON files, one per shard')
    .option('--json', 'print the merged JSON document instead of text')
    .action(async (files: string[], opts: MergeCommandOptions) => {
      const { reportMergeCommand } = await import('./report.ts');
      exitCode = await reportMergeCommand(files, opts);
    });

  const sandbox = program.command('sandbox').description('local Debian hosts in namespaces, for trying playbooks and for tests');
  sandbox
    .command('up')
    .argument('[count]', 'number of Debian hosts (relay1, relay2, ...)', wholeNumber, 3)
    .option('--centos <n>', 'also n CentOS-like hosts (centos1, ...): rpm, dnf, RHEL layout', wholeNumber, 0)
    .option('--dir <dir>', 'state folder (default ./.sandbox or $MAILPROV_SANDBOX_DIR)')
    .option('--lan', 'also a LAN: the hosts and two clients (office 192.168.77.200, guest 192.168.88.200) on one bridge of their own')
    .option('--release <12|13>', "the Debian hosts' release: 13 (trixie, the default) or 12 (bookworm)", debianRelease)
    .option('--release-of <host=release>', 'one Debian host of another release (repeatable): --release-of relay2=12', releaseOf)
    .action(
      async (
        count: number,
        opts: { dir?: string; centos: number; lan?: boolean; release?: 12 | 13; releaseOf?: Record<string, 12 | 13> },
      ) => {
        const { sandboxUpCommand } = await import('./sandbox.ts');
        exitCode = await sandboxUpCommand(count, opts);
      },
    );
  sandbox
    .command('status')
    .option('--dir <dir>', 'state folder')
    .action(async (opts: { dir?: string }) => {
      const { sandboxStatusCommand } = await import('./sandbox.ts');
      exitCode = await sandboxStatusCommand(opts);
    });
  sandbox
    .command('submit')
    .description(
      "submit one message over SMTP from a client of the sandbox LAN (`up --lan`) to a host's port 25, as an office machine would",
    )
    .argument('<host>', 'the sandbox host to submit to (relay1, centos1, ...)')
    .option('--client <name>', 'office (inside the office network) or guest (outside it)', 'office')
    .option('--to <address>', 'recipient', 'ops@example.com')
    .option('--dir <dir>', 'state folder')
    .action(async (host: string, opts: { client: string; to: string; dir?: string }) => {
      const { sandboxSubmitCommand } = await import('./sandbox.ts');
      exitCode = await sandboxSubmitCommand(host, opts);
    });
  sandbox
    .command('cut')
    .description(
      "cut a host's SSH connections (its sessions' sshd processes end), as a dropped link does; with --for, it stays unreachable that long",
    )
    .argument('<host>', 'the sandbox host (relay1, centos1, ...)')
    .option('--for <seconds>', 'refuse new connections for this many seconds', wholeNumber, 0)
    .option('--dir <dir>', 'state folder')
    .action(async (host: string, opts: { for: number; dir?: string }) => {
      const { sandboxCutCommand } = await import('./sandbox.ts');
      exitCode = await sandboxCutCommand(host, opts);
    });
  sandbox
    .command('down')
    .option('--dir <dir>', 'state folder')
    .action(async (opts: { dir?: string }) => {
      const { sandboxDownCommand } = await import('./sandbox.ts');
      exitCode = await sandboxDownCommand(opts);
    });

  program
    .command('demo')
    .description('bring the sandbox up if needed, apply the sendmail playbook, show the relayed test message')
    .option('--hosts <n>', 'Debian sandbox hosts', wholeNumber, 3)
    .option('--centos <n>', 'CentOS-like sandbox hosts', wholeNumber, 0)
    .option('--lan', 'put the hosts on a sandbox LAN, and relay one message from its office client through each')
    .option('--release <12|13>', "the Debian hosts' release: 13 (trixie, the default) or 12 (bookworm)", debianRelease)
    .action(async (opts: { hosts: number; centos: number; lan?: boolean; release?: 12 | 13 }) => {
      const { demoCommand } = await import('./demo.ts');
      exitCode = await demoCommand(opts);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // a Nagios plugin given arguments it cannot read is UNKNOWN (3), with a status line on stdout
      if (argv[0] === 'status' && argv.includes('--nagios')) {
        process.stdout.write('MAILPROV UNKNOWN - invalid arguments (see stderr)\n');
        return 3;
      }
      return 1;
    }
    process.stderr.write(redact(`mailprov: ${describeError(err)}\n`));
    return exitCodeOf(err);
  }
}
