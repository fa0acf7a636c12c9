// Compiled inventories cached by content (src/inventory/compile-cache.ts): with the CLI running from
// its bundle, an unchanged inventory is not compiled again, and any change to a file that went into
// it (the inventory or a file it imports) compiles it again. The bundle is the checkout's dist/
// (built by `npm ci`).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cachedInventory, cacheKey, inventoryCacheDir, storeInventory } from '../../../src/inventory/compile-cache.ts';
import { loadInventory } from '../../../src/inventory/load.ts';
import { packageRoot } from '../../../src/paths.ts';

let dir: string;
let cache: string;
const dist = join(packageRoot(), 'dist');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailprov-inventory-cache-'));
  cache = join(dir, 'cache');
  vi.stubEnv('MAILPROV_BUNDLE', dist);
  vi.stubEnv('MAILPROV_INVENTORY_CACHE', cache);
});

afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

/** An inventory importing a file of its own and a host list, counting its evaluations (globalThis.inventoryLoads). */
function writeInventory(extraHost: string): string {
  writeFileSync(join(dir, 'hosts.ini'), '[relays]\nrelay1\n');
  writeFileSync(join(dir, 'extra.ts'), `export const extra = { ${extraHost}: { address: '10.0.0.9' } };\n`);
  const file = join(dir, 'inventory.ts');
  writeFileSync(
    file,
    [
      "import { defineInventory, hostsFromIni } from 'mailprov';",
      "import { extra } from './extra.ts';",
      'const g = globalThis as { inventoryLoads?: number };',
      'g.inventoryLoads = (g.inventoryLoads ?? 0) + 1;',
      "export default defineInventory({ hosts: { ...hostsFromIni(new URL('./hosts.ini', import.meta.url)), ...extra } });",
      '',
    ].join('\n'),
  );
  return file;
}

/** The cache entry's identity: a new inode each time it is written (written beside, renamed into place). */
const entryInode = () => {
  const json = readdirSync(cache).find((f) => f.endsWith('.json'));
  return json ? statSync(join(cache, json)).ino : undefined;
};

describe.skipIf(!existsSync(join(dist, 'index.mjs')))('compiled inventories cached by content', () => {
  it('compiles once, then loads the cached module, evaluated afresh each time (its host lists read again)', async () => {
    const g = globalThis as { inventoryLoads?: number };
    g.inventoryLoads = 0;
    const file = writeInventory('relay9');
    const first = await loadInventory(file);
    expect(first.hosts.map((h) => h.name)).toEqual(['relay1', 'relay9']);
    expect(g.inventoryLoads).toBe(1);
    const written = entryInode();
    expect(written).toBeDefined();
    expect(statSync(cache).mode & 0o777).toBe(0o700);

    const second = await loadInventory(file);
    expect(second.hosts.map((h) => h.name)).toEqual(['relay1', 'relay9']);
    expect(g.inventoryLoads).toBe(2);
    // not compiled again: the entry was not written again
    expect(entryInode()).toBe(written);
  });

  it('compiles again when a file the inventory imports changed, never serving the old module', async () => {
    const file = writeInventory('relay9');
    await loadInventory(file);
    const written = entryInode();
    writeInventory('relay7');
    const after = await loadInventory(file);
    expect(after.hosts.map((h) => h.name)).toEqual(['relay1', 'relay7']);
    expect(entryInode()).not.toBe(written);
  });

  it('writes nothing with MAILPROV_INVENTORY_CACHE=off', async () => {
    vi.stubEnv('MAILPROV_INVENTORY_CACHE', 'off');
    expect(inventoryCacheDir()).toBeUndefined();
    const loaded = await loadInventory(writeInventory('relay9'));
    expect(loaded.hosts).toHaveLength(2);
    expect(existsSync(cache)).toBe(false);
  });
});

describe('cache entries', () => {
  it('holds while every input has the content it had, and the code is the code it describes', () => {
    const input = join(dir, 'a.ts');
    writeFileSync(input, 'export const a = 1;\n');
    const key = cacheKey(input, 'compiler 1');
    expect(cacheKey(input, 'compiler 2')).not.toBe(key);
    expect(cachedInventory(cache, key)).toBeUndefined();
    storeInventory(cache, key, 'export default 1;\n', { [input]: 'f'.repeat(64) });
    // a digest that is not the file's: the entry does not hold
    expect(cachedInventory(cache, key)).toBeUndefined();
    const digest = createHash('sha256').update('export const a = 1;\n').digest('hex');
    storeInventory(cache, key, 'export default 1;\n', { [input]: digest });
    expect(cachedInventory(cache, key)).toBe(join(cache, `${key}.mjs`));
    // the code swapped under the entry (two runs storing at once): it does not hold
    writeFileSync(join(cache, `${key}.mjs`), 'export default 2;\n');
    expect(cachedInventory(cache, key)).toBeUndefined();
    storeInventory(cache, key, 'export default 1;\n', { [input]: digest });
    writeFileSync(input, 'export const a = 2;\n');
    expect(cachedInventory(cache, key)).toBeUndefined();
    // an input that is gone
    rmSync(input);
    expect(cachedInventory(cache, key)).toBeUndefined();
  });

  it('lives under XDG_CACHE_HOME or ~/.cache unless MAILPROV_INVENTORY_CACHE says where', () => {
    expect(inventoryCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/mailprov/inventories');
    expect(inventoryCacheDir({ MAILPROV_INVENTORY_CACHE: '/y' })).toBe('/y');
    expect(inventoryCacheDir({})).toMatch(/\/\.cache\/mailprov\/inventories$/);
  });
});
