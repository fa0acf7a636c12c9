// Reading the messages the sandbox smart host stored, one JSON file per message.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredMessage {
  id: string;
  /** ISO 8601 time the message was accepted */
  receivedAt: string;
  authUser: string | null;
  mailFrom: string;
  rcptTo: string[];
  tls: boolean;
  remoteAddress: string;
  subject: string | null;
  raw: string;
}

const POLL_INTERVAL_MS = 100;

export async function readMessages(storeDir: string): Promise<StoredMessage[]> {
  let names: string[];
  try {
    names = await readdir(storeDir);
  } catch (err) {
    // No store yet simply means nothing arrived.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  // Files being written have a temporary name, so only finished *.json files are read.
  const files = names.filter((name) => name.endsWith('.json')).sort();
  const messages = await Promise.all(files.map((name) => readMessageFile(join(storeDir, name))));
  return messages.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
}

export async function waitForMessage(
  storeDir: string,
  predicate: (message: StoredMessage) => boolean,
  timeoutMs = 10_000,
): Promise<StoredMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await readMessages(storeDir);
    const match = messages.find(predicate);
    if (match) return match;
    if (Date.now() >= deadline) throw new Error(timeoutMessage(storeDir, timeoutMs, messages));
    await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
}

export function describeMessage(message: StoredMessage): string {
  const subject = message.subject === null ? '(no subject)' : JSON.stringify(message.subject);
  return `${message.receivedAt} ${message.id}: from <${message.mailFrom}> to ${message.rcptTo
    .map((r) => `<${r}>`)
    .join(', ')} subject ${subject} auth ${message.authUser ?? '(none)'}`;
}

function timeoutMessage(storeDir: string, timeoutMs: number, messages: StoredMessage[]): string {
  const head = `no matching message in ${storeDir} after ${timeoutMs} ms`;
  if (messages.length === 0) return `${head}; no messages arrived at all`;
  const list = messages.map((m) => `  - ${describeMessage(m)}`).join('\n');
  return `${head}; ${messages.length} message(s) arrived:\n${list}`;
}

async function readMessageFile(path: string): Promise<StoredMessage> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as StoredMessage;
  } catch (err) {
    throw new Error(`cannot parse stored message ${path}: ${(err as Error).message}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
