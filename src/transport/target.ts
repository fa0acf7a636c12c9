// Who a host is to the SSH connector: where it answers, as whom, with which keys, checked against
// which known_hosts, through which jump hosts. Read by the inventory, the connector and its parts.
import { homedir } from 'node:os';

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface SshTarget {
  /** Inventory name, used in messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** A key file; with SSH_AUTH_SOCK set, the ssh-agent is tried after it (or alone, without one). */
  privateKey?: string;
  /** Further keys, tried after privateKey (ssh_config's IdentityFile lines after the first). */
  identityFiles?: string[];
  /** Only the key files, never the agent's keys (ssh_config's IdentitiesOnly). */
  identitiesOnly?: boolean;
  /** Decrypts an encrypted privateKey (from privateKeyPassphraseEnv or --ask-key-pass). */
  privateKeyPassphrase?: string;
  /** The environment variable the passphrase comes from, for messages. */
  privateKeyPassphraseEnv?: string;
  knownHosts: string;
  hostKeyPolicy: HostKeyPolicy;
  /** Run commands through sudo (for non-root users). */
  sudo: boolean;
  sudoPassword?: string;
  connectTimeoutMs: number;
  /**
   * Jump hosts, first to last: the first is reached directly, each next one through the one before,
   * this host through the last. Their own `jump` is not read (a chain is resolved whole).
   */
  jump?: SshTarget[];
}

export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/** The key files a target authenticates with, in order: privateKey, then its further IdentityFile lines. */
export const keyFiles = (target: SshTarget): string[] =>
  [target.privateKey, ...(target.identityFiles ?? [])].filter((k): k is string => Boolean(k)).map(expandHome);
