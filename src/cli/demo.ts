// `mailprov demo` (`npm run demo`): the whole job on the local sandbox. Brings the sandbox up if
// needed, applies inventories/sandbox.ts, and shows the test messages that reached the stand-in.
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { packageRoot } from '../paths.ts';
import { lanSubmit, readMessages, sandboxUp, waitForMessage, type SandboxState } from '../sandbox/index.ts';
import { runCommand } from './run.ts';

export async function demoCommand(opts: { hosts: number; centos?: number; lan?: boolean; release?: 12 | 13 }): Promise<number> {
  if (opts.hosts + (opts.centos ?? 0) < 1) throw new SandboxError('the demo needs at least one sandbox host');
  const state = await sandboxUp({
    count: opts.hosts,
    centos: opts.centos,
    lan: opts.lan,
    release: opts.release,
    log: (l) => process.stderr.write(`sandbox: ${l}\n`),
  });
  const inventory = join(packageRoot(), 'inventories/sandbox.ts');
  process.env.MAILPROV_SANDBOX_DIR = state.dir;
  const since = Date.now();
  const code = await runCommand(inventory, { forks: 20 }, 'apply');
  if (code === 0 && state.lan) await submitFromOffice(state);
  const fresh = (await readMessages(state.smartHost.storeDir)).filter((m) => Date.parse(m.receivedAt) >= since - 1000);
  process.stdout.write(`\nThe stand-in smart host ${state.smartHost.name} received ${fresh.length} message(s) in this run:\n`);
  for (const m of fresh) {
    process.stdout.write(
      `  ${m.receivedAt}  from ${m.mailFrom} to ${m.rcptTo.join(', ')}  AUTH as ${m.authUser}${m.tls ? ' over STARTTLS' : ''}  "${m.subject}"\n`,
    );
  }
  if (!fresh.length)
    process.stdout.write(
      '  (none: the hosts were already configured, so nothing was changed or verified; run `mailprov apply inventories/sandbox.ts --verify`)\n',
    );
  process.stdout.write(
    `\nThe sandbox stays up: \`npx mailprov sandbox status\`, \`npx mailprov plan inventories/sandbox.ts\`, \`npx mailprov sandbox down\`.\n`,
  );
  return code;
}

/** `--lan`: the office client submits one message to each relay over the LAN, as the seed's office machines do. */
async function submitFromOffice(state: SandboxState): Promise<void> {
  const lan = state.lan!;
  process.stdout.write(`\nThe office client ${lan.clients.office.address} submits to each relay's port 25 over the sandbox LAN:\n`);
  for (const h of state.hosts) {
    if (!h.lanAddress) continue;
    const subject = `from the office LAN through ${h.name}`;
    const r = await lanSubmit(lan, 'office', h.lanAddress, { from: 'printer@office.lan.sandbox.test', to: 'ops@example.com', subject });
    process.stdout.write(`  ${h.name} (${h.lanAddress}:25): ${r.code ? `${r.code} ` : ''}${r.response}\n`);
    // relayed on at once, in the background: wait for it, so that the list below shows it
    if (r.accepted) await waitForMessage(state.smartHost.storeDir, (m) => m.subject === subject, 30_000).catch(() => undefined);
  }
}
