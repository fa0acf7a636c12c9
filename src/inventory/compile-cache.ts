// Compiled inventories, cached by content. Bundling an inventory with esbuild starts esbuild's
// service (a Go process) and costs about a tenth of a second, a fifth of a dry run on one host;
// the same inventory, unchanged, compiles to the same module. An entry is found by what was
// compiled (the inventory's path, the running bundle, esbuild's version) and used only while every
// file that went into it (the inventory and each file it imports, from the compiler's own list) has
// the content it had: a sha256 of each, read again on each use.
//
// Where: $MAILPROV_INVENTORY_CACHE, else $XDG_CACHE_HOME/mailprov/inventories, else
// ~/.cache/mailprov/inventories; MAILPROV_INVENTORY_CACHE=off compiles every time. The folder is
// its owner's only (an inventory may hold what its source file holds), and a cache that cannot be
// read or written is no error: the inventory is compiled as without one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** An entry: its code's digest, and the digests of the files it was compiled from, by absolute path. */
interface Entry {
  format: 1;
  code: string;
  inputs: Record<string, string>;
}

export function inventoryCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.MAILPROV_INVENTORY_CACHE;
  if (set === 'off') return undefined;
  if (set) return set;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mailprov', 'inventories');
}

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The entry's name: one per inventory file and compiler (a new bundle or esbuild compiles again). */
export function cacheKey(file: string, compiler: string): string {
  return sha256(`${file}\0${compiler}`).slice(0, 32);
}

export function digestOf(path: string): string | undefined {
  try {
    return sha256(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** The cached module's path when its entry holds (every input as it was), else undefined. */
export function cachedInventory(dir: string, key: string): string | undefined {
  try {
    const entry = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as Entry;
    if (entry.format !== 1 || !Object.keys(entry.inputs).length) return undefined;
    for (const [path, digest] of Object.entries(entry.inputs)) if (digestOf(path) !== digest) return undefined;
    // the code this entry describes (two runs storing at once may have paired one's code with the other's list)
    const code = join(dir, `${key}.mjs`);
    return digestOf(code) === entry.code ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stores a compiled module with the digests of the files it came from. The caller takes them of
 * the content the compiler read (see importBundled): an input edited meanwhile leaves an entry that
 * fails its next check, never one that passes with old code.
 */
export function storeInventory(dir: string, key: string, code: string, inputs: Record<string, string>): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${key}-${randomBytes(6).toString('hex')}`);
    writeFileSync(`${tmp}.mjs`, code, { mode: 0o600 });
    renameSync(`${tmp}.mjs`, join(dir, `${key}.mjs`));
    writeFileSync(`${tmp}.json`, JSON.stringify({ format: 1, code: sha256(code), inputs } satisfies Entry), { mode: 0o600 });
    renameSync(`${tmp}.json`, join(dir, `${key}.json`));
  } catch {
    // no cache (a read-only home, a full disk): the next run compiles again
  }
}
