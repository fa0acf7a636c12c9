// The sendmail settings that make a sandbox host relay through the stand-in smart host, exactly as
// a production host would through Gmail: shared by inventories/sandbox.ts and the tests.
import { secret } from '../secrets/index.ts';
import type { SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import type { SandboxState } from './lifecycle.ts';

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
    ...over,
  };
}
