// Who the sandbox's stand-in smart host is: its name and address as the hosts see it, its accounts
// and their passwords, its certificates (and those of its bad-certificate modes); and its start with them.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCa, issueServerCert } from './ca.ts';
import { nodeDaemon } from './daemon.ts';
import { smartHostEventsFile, smartHostModeFile } from './smarthost-modes.ts';
import type { SandboxState } from './state.ts';
import { waitForFile } from './wait.ts';

export const SANDBOX_DOMAIN = 'sandbox.test';
export const SMART_HOST_NAME = `smtp.${SANDBOX_DOMAIN}`;
/** Inside each host the smart host's name resolves to this loopback address (its /etc/hosts). */
export const SMART_HOST_ADDR = '127.0.0.2';
export const SMART_HOST_PORT = 587;
export const SMART_HOST_USER = `relay@${SANDBOX_DOMAIN}`;
/** A second real account with a password of its own: for inventories that give hosts different credentials. */
export const SMART_HOST_SECOND_USER = `relay2@${SANDBOX_DOMAIN}`;
/** A second account, which always answers AUTH with Gmail's 534 5.7.9 "Application-specific password required". */
export const SMART_HOST_APP_PASSWORD_USER = `app-password@${SANDBOX_DOMAIN}`;
/** The name on the certificate of the wrong-name-cert mode (signed by the sandbox CA). */
export const SMART_HOST_WRONG_NAME = `other.${SANDBOX_DOMAIN}`;
/** A CA the hosts do not trust, which signs the certificate of the untrusted-cert mode. */
const ROGUE_CA_SUBJECT = '/CN=mailprov sandbox rogue CA';

/** The smart host's certificate, and those of its bad-certificate modes. */
async function smartHostCerts(state: SandboxState) {
  const caDir = join(state.dir, 'ca');
  const paths = ({ cert, key }: { cert: string; key: string }) => ({ certPath: cert, keyPath: key });
  const rogueDir = join(caDir, 'rogue');
  // made first, with its own subject: issueServerCert would make a CA named like the trusted one
  await ensureCa(rogueDir, ROGUE_CA_SUBJECT);
  return {
    trusted: paths(await issueServerCert(caDir, state.smartHost.name)),
    'untrusted-cert': paths(await issueServerCert(rogueDir, state.smartHost.name)),
    'wrong-name-cert': paths(await issueServerCert(caDir, SMART_HOST_WRONG_NAME)),
  };
}

/** Starts the stand-in smart host (smarthost-daemon.ts) with its accounts, certificates, mode and events files. */
export async function startSmartHost(state: SandboxState): Promise<void> {
  const { trusted, ...badCerts } = await smartHostCerts(state);
  const { user, passwordFile, second } = state.smartHost;
  const config = {
    socketPath: state.smartHost.socket,
    ...trusted,
    badCerts,
    users: { [user]: readPassword(passwordFile), [second.user]: readPassword(second.passwordFile) },
    appPasswordUsers: [SMART_HOST_APP_PASSWORD_USER],
    modeFile: smartHostModeFile(state.dir),
    eventsFile: smartHostEventsFile(state.dir),
    storeDir: state.smartHost.storeDir,
    pidFile: join(state.dir, 'smarthost.pid'),
  };
  const configPath = join(state.dir, 'smarthost.json');
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  const logFile = join(state.dir, 'smarthost.log');
  await nodeDaemon(state, 'smart host', 'smarthost-daemon.ts', configPath, logFile);
  await waitForFile(config.pidFile, 'the stand-in smart host', logFile);
}

export function ensurePasswordFile(path: string): void {
  if (!existsSync(path)) writeFileSync(path, randomBytes(12).toString('base64url') + '\n', { mode: 0o600 });
}

const readPassword = (path: string) => readFileSync(path, 'utf8').trim();
