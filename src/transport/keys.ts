// Private key files, read and decrypted on the controller, once per run. A run opens every key its
// hosts name before it contacts any of them (unlockKeys), so a wrong passphrase is one error naming
// the file instead of an authentication failure per host. Decryption is paid once too: for an
// OpenSSH key it is bcrypt-pbkdf in JavaScript, about 0.8 s at ssh-keygen's default rounds.
// The auth methods a handshake tries are made here too, from the keys opened (authMethods).
import { readFileSync } from 'node:fs';
import ssh2, { type AnyAuthMethod, type ParsedKey } from 'ssh2';
import { ConnectError, KeyError } from '../errors.ts';
import { registerSecret } from '../secrets/index.ts';
import { expandHome, keyFiles, type SshTarget } from './target.ts';

/** A key ready to sign with, or 'encrypted' when it needs a passphrase that was not given. */
export type OpenedKey = ParsedKey | 'encrypted';

// by file and passphrase: hosts sharing a key share its decryption
const opened = new Map<string, OpenedKey>();
// ssh2 is CommonJS: its named exports are not visible to an ES module import
const { parseKey } = ssh2.utils;

/**
 * Reads and, with a passphrase, decrypts a key file. `source` says where the passphrase came from,
 * for the message when it is wrong. Throws KeyError naming the file.
 */
export function openKey(file: string, passphrase?: string, source?: string): OpenedKey {
  const id = `${file}\0${passphrase ?? ''}`;
  const known = opened.get(id);
  if (known) return known;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new KeyError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let key = parseKey(data);
  if (key instanceof Error) {
    if (!/encrypted/i.test(key.message)) throw new KeyError(file, `not a private key mailprov can read (${key.message})`);
    if (passphrase === undefined) {
      opened.set(id, 'encrypted');
      return 'encrypted';
    }
    registerSecret(passphrase);
    key = parseKey(data, passphrase);
    // ssh2 cannot tell a wrong passphrase from a damaged file: both fail its integrity check
    if (key instanceof Error) throw new KeyError(file, `wrong passphrase${source ? ` (from ${source})` : ''}: it does not decrypt the key`);
  }
  const parsed = Array.isArray(key) ? (key[0] as ParsedKey) : key;
  if (!parsed.isPrivateKey()) throw new KeyError(file, 'holds a public key, not a private key');
  opened.set(id, parsed);
  return parsed;
}

/** Where a target's passphrase comes from, for messages. */
export function passphraseSource(target: Pick<SshTarget, 'privateKeyPassphraseEnv'>): string {
  return target.privateKeyPassphraseEnv ? `environment variable ${target.privateKeyPassphraseEnv}` : 'the terminal';
}

export interface UnlockOptions {
  /** Asks for the passphrase of an encrypted key that has none (`--ask-key-pass`); once per file. */
  ask?: (file: string) => Promise<string>;
  /** The ssh-agent's socket (default: SSH_AUTH_SOCK): it may hold an encrypted key that has no passphrase here. */
  agent?: string;
}

/**
 * Opens every key file the hosts name, before any host is contacted: a key that cannot be read or
 * decrypted fails the whole run here, naming the file. Returns the hosts with the passphrases asked for.
 */
export async function unlockKeys<T extends { target: SshTarget }>(hosts: T[], opts: UnlockOptions = {}): Promise<T[]> {
  const agent = 'agent' in opts ? opts.agent : process.env.SSH_AUTH_SOCK || undefined;
  const typed = new Map<string, string>();
  const unlock = async (t: SshTarget): Promise<SshTarget> => {
    const file = t.privateKey && expandHome(t.privateKey);
    if (!file || openKey(file, t.privateKeyPassphrase, passphraseSource(t)) !== 'encrypted') return t;
    if (opts.ask) {
      let passphrase = typed.get(file);
      if (passphrase === undefined) {
        passphrase = await opts.ask(file);
        registerSecret(passphrase);
        openKey(file, passphrase, 'the terminal');
        typed.set(file, passphrase);
      }
      return { ...t, privateKeyPassphrase: passphrase };
    }
    if (t.privateKeyPassphraseEnv) {
      throw new KeyError(
        file,
        `it is encrypted, and environment variable ${t.privateKeyPassphraseEnv} (privateKeyPassphraseEnv) is not set`,
      );
    }
    // as ssh does, the agent may hold this key: the hosts authenticate through it alone
    if (!agent) throw new KeyError(file, encryptedHint());
    return t;
  };
  const out: T[] = [];
  for (const host of hosts) {
    // a host's jump hosts first: they are contacted before it
    const jump: SshTarget[] = [];
    for (const hop of host.target.jump ?? []) jump.push(await unlock(hop));
    const target = await unlock(host.target);
    const changed = target !== host.target || jump.some((hop, i) => hop !== host.target.jump![i]);
    out.push(changed ? { ...host, target: { ...target, ...(jump.length ? { jump } : {}) } } : host);
  }
  return out;
}

export function encryptedHint(): string {
  return (
    'it is encrypted and no passphrase is given: name an environment variable holding it with privateKeyPassphraseEnv ' +
    '(mailprov_private_key_passphrase_env in an Ansible inventory), pass --ask-key-pass, or load the key into ssh-agent'
  );
}

/**
 * How to authenticate, as ssh2 methods with the keys already decrypted: the key file
 * (privateKey, with its passphrase), then ssh_config's further IdentityFile lines, then the ssh-agent
 * (SSH_AUTH_SOCK) unless IdentitiesOnly says key files only. An encrypted key with no passphrase is
 * left to the agent; without one it is a KeyError, unless another key file can be tried.
 */
export function authMethods(target: SshTarget): { methods: AnyAuthMethod[]; tried: string[] } {
  const agent = target.identitiesOnly ? undefined : process.env.SSH_AUTH_SOCK || undefined;
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const encrypted: string[] = [];
  for (const [i, file] of keyFiles(target).entries()) {
    // the passphrase is privateKey's; a further IdentityFile that is encrypted is skipped, as ssh without a terminal does
    const key = i === 0 && target.privateKey ? openKey(file, target.privateKeyPassphrase, passphraseSource(target)) : openKey(file);
    if (key === 'encrypted') {
      encrypted.push(file);
      continue;
    }
    methods.push({ type: 'publickey', username: target.user, key });
    tried.push(`key ${file}`);
  }
  if (agent) {
    methods.push({ type: 'agent', username: target.user, agent });
    tried.push(`the keys of ssh-agent at ${agent}`);
  }
  if (methods.length === 0 && encrypted.length) throw new KeyError(encrypted[0], encryptedHint());
  if (methods.length === 0) {
    throw new ConnectError(
      target.name,
      target.identitiesOnly
        ? 'nothing to authenticate with: IdentitiesOnly (ssh_config) leaves out the ssh-agent, and no key file is given for this host'
        : 'nothing to authenticate with: no privateKey for this host (ansible_ssh_private_key_file in an Ansible inventory) and no ssh-agent (SSH_AUTH_SOCK is not set)',
    );
  }
  return { methods, tried };
}
