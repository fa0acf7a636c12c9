// Waiting for a daemon of the sandbox to say it is ready by writing a file (a pid file, a "ready"
// file): one wait for all of them, whose error carries the tail of the daemon's log.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SandboxError } from '../errors.ts';
import { packageRoot } from '../paths.ts';

/** Resolves once `file` exists, or fails naming `what` with the tail of `log`. */
export async function waitForFile(file: string, what: string, log: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new SandboxError(`${what} did not start:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `node --import <this>` runs one of our TypeScript files (a daemon, the LAN client) as tsx does. */
export const tsxLoaderUrl = (): string => pathToFileURL(join(packageRoot(), 'node_modules/tsx/dist/loader.mjs')).href;
