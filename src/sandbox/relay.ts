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
    relayFrom: ['192.168'],
    verify: { recipient: 'ops@example.com' },
    ...over,
  };
}
