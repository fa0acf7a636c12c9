// The sendmail settings that make a sandbox host relay through the stand-in smart host, exactly as
// a production host would through Gmail: shared by inventories/sandbox.ts and the tests.
import { secret } from '../secrets/index.ts';
import type { SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import type { SmtpPortProber } from '../../playbooks/sendmail-smarthost/prober.ts';
import { lanConnect } from './lan.ts';
import type { SandboxState } from './state.ts';

export function relaySettings(state: SandboxState, over: Partial<SendmailSettingsInput> = {}): SendmailSettingsInput {
  return {
    smartHost: state.smartHost.name,
    smartHostPort: 587,
    auth: { user: state.smartHost.user, password: secret.file(state.smartHost.passwordFile) },
    listen: ['0.0.0.0'],
    // the seed's `Connect:192.168 RELAY`; on a sandbox LAN its office network, so that the guest
    // client (192.168.88.200, on the same wire) is outside it
    relayFrom: [state.lan ? state.lan.office : '192.168'],
    verify: { recipient: 'ops@example.com' },
    // the sandbox's names are in no DNS, and its checks send nothing beyond this machine: the
    // sender domain's SPF and DMARC are looked up only where a test names its own DNS server
    senderAuthentication: { check: 'off' },
    ...over,
  };
}

/**
 * The sandbox LAN's office client as the prober of port 25 (smtpPortProbe): inside relayFrom, on
 * the wire, as the seed's office machines are. It knows each host's LAN address by its name.
 */
export function sandboxPortProber(state: SandboxState): SmtpPortProber | undefined {
  const lan = state.lan;
  if (!lan) return undefined;
  return {
    name: `the sandbox office client ${lan.clients.office.address}`,
    addressOf: (hostName) => state.hosts.find((h) => h.name === hostName)?.lanAddress,
    connect: async (address, port) => (await lanConnect(lan, 'office', address, port)).outcome,
  };
}
