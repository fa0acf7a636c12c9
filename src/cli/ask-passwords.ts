// Asking for a secret on the terminal (`--ask-sudo-pass`, `--ask-key-pass`), as sudo and ssh do:
// nothing is echoed, and the answer is registered for redaction before anything else sees it.
import { MailprovError } from '../errors.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import { registerSecret } from '../secrets/index.ts';
import { unlockKeys } from '../transport/keys.ts';
import { traced } from '../trace.ts';

/** Which option asks, and what to do instead without a terminal: for the message when there is none. */
export interface PromptFor {
  option: string;
  instead: string;
}

const SUDO_PROMPT: PromptFor = { option: '--ask-sudo-pass', instead: 'name an environment variable with sudoPasswordEnv' };
const KEY_PROMPT: PromptFor = {
  option: '--ask-key-pass',
  instead: 'name an environment variable with privateKeyPassphraseEnv, or load the key into ssh-agent',
};

export async function askHidden(
  question: string,
  input: NodeJS.ReadStream = process.stdin,
  asker: PromptFor = SUDO_PROMPT,
): Promise<string> {
  if (!input.isTTY) throw new MailprovError(`${asker.option} needs a terminal to ask on; without one, ${asker.instead}`);
  // echo off before the prompt shows, so nothing typed after it is ever echoed
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n' || c === '\u0004') {
          finish();
          registerSecret(value);
          return resolve(value);
        }
        if (c === '\u0003') {
          finish();
          return reject(new MailprovError(`interrupted at the prompt of ${asker.option}`));
        }
        value = c === '\u007f' || c === '\b' ? value.slice(0, -1) : value + c;
      }
    };
    input.on('data', onData);
  });
}

/** Gives the password to every host that runs through sudo and has none from sudoPasswordEnv. */
export function withSudoPassword(hosts: ResolvedHost[], password: string): ResolvedHost[] {
  return hosts.map((h) =>
    h.target.sudo && h.target.sudoPassword === undefined ? { ...h, target: { ...h.target, sudoPassword: password } } : h,
  );
}

/** `-K`: asks once, only when some host needs it. */
export async function askSudoPasswordFor(hosts: ResolvedHost[]): Promise<ResolvedHost[]> {
  if (!hosts.some((h) => h.target.sudo && h.target.sudoPassword === undefined)) return hosts;
  return withSudoPassword(hosts, await askHidden('sudo password: '));
}

export interface CredentialOptions {
  askSudoPass?: boolean;
  askKeyPass?: boolean;
}

/**
 * Between loading the inventory (its warnings said by loadCommandInventory) and contacting any host:
 * every key file, the jump hosts' included, opened (a wrong passphrase fails the run here, naming the file), its passphrase asked once per file
 * with --ask-key-pass; the sudo password asked once with -K.
 */
export async function prepareHosts(hosts: ResolvedHost[], opts: CredentialOptions): Promise<ResolvedHost[]> {
  const ask = opts.askKeyPass ? (file: string) => askHidden(`passphrase for key ${file}: `, process.stdin, KEY_PROMPT) : undefined;
  const unlocked = await traced('key decryption', () => unlockKeys(hosts, { ask }));
  return opts.askSudoPass ? askSudoPasswordFor(unlocked) : unlocked;
}
