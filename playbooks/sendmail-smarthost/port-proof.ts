// Port 25 proven reachable from inside relayFrom after apply: a rule in the wrong firewall, or one
// another rule shadows, leaves the relay closed to its LAN while every step succeeded. The prober
// (smtpPortProbe) stands where the relay's clients are: the controller when it sits inside
// relayFrom (controllerProbe), or anything an inventory can reach there (the sandbox's office
// client). A port left shut fails the apply, so the host is rolled back, naming the firewall.
import { createConnection } from 'node:net';
import { firewallFact, OperationError, type VerifyContext } from 'mailprov';
import type { ProbeOutcome, SmtpPortProber } from './prober.ts';
import type { SendmailSettings } from './settings.ts';

/** The controller itself as the prober: right when the controller sits inside relayFrom. */
export function controllerProbe(timeoutMs = 5000): SmtpPortProber {
  return {
    name: 'the controller',
    connect: (address, port) =>
      new Promise((resolve) => {
        const s = createConnection({ host: address, port, timeout: timeoutMs });
        const done = (o: ProbeOutcome) => {
          s.destroy();
          resolve(o);
        };
        s.once('connect', () => done('open'));
        s.once('timeout', () => done('timeout'));
        s.once('error', (e: NodeJS.ErrnoException) =>
          done(e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable'),
        );
      }),
  };
}

const LOCAL = /^(127\.|0\.0\.0\.0$|::1?$)/;

/** Where the prober connects: the setting's address, the prober's, else the one specific address sendmail listens on. */
export function probeAddress(settings: SendmailSettings, prober: SmtpPortProber, hostName: string): string | undefined {
  const specific = settings.listen.filter((a) => !LOCAL.test(a));
  return settings.smtpPortProbe?.address ?? prober.addressOf?.(hostName) ?? (specific.length === 1 ? specific[0] : undefined);
}

export async function provePortOpen(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const probe = settings.smtpPortProbe;
  if (ctx.mode !== 'apply' || !settings.openSmtpPort || !probe) return;
  const address = probeAddress(settings, probe.prober, ctx.hostName);
  if (!address) {
    ctx.warn(`port 25 not proven from ${probe.prober.name}: no address to probe (set smtpPortProbe.address)`);
    return;
  }
  const outcome = await probe.prober.connect(address, 25);
  if (outcome === 'open') {
    ctx.info(`port 25 of ${address} reached from ${probe.prober.name}`);
    return;
  }
  const fw = ctx.facts.get(firewallFact, undefined);
  throw new OperationError(
    `port 25 of ${address} is still shut to ${probe.prober.name} after apply (${outcome}): the firewall that decides here is ${fw.manager} (${fw.why}); ` +
      "look for a rule of its own that drops or rejects the port before mailprov's",
  );
}
