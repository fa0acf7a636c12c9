// The reference sections of docs/ are generated from the code (scripts/docs.ts, `npm run docs`): the
// committed pages must be what the generator writes today, or a user reads settings and options that
// are not the code's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { literal, renderPages, replaceSection, ROOT, SECTIONS, settingsTable } from '../../../scripts/docs.ts';

describe('generated docs', () => {
  it('every generated page in docs/ is up to date with the schemas and the CLI (else run `npm run docs`)', async () => {
    const pages = await renderPages(ROOT);
    expect([...pages.keys()].sort()).toEqual([...new Set(SECTIONS.map((s) => s.page))].sort());
    for (const [page, text] of pages) {
      expect(readFileSync(join(ROOT, page), 'utf8'), `${page} is stale: run npm run docs`).toBe(text);
    }
  });

  it('reads descriptions and defaults from a schema, under its transforms', () => {
    const schema = z
      .object({
        host: z.string().describe('the host'),
        port: z.number().default(587).describe('its port'),
        tls: z.enum(['a', 'b']).default('a').describe('a | b'),
        list: z.array(z.string()).default([]).describe('a list'),
        maybe: z.string().optional().describe('optional'),
        derived: z.boolean().optional().meta({ description: 'derived', defaultText: 'from host' }),
      })
      .strict()
      .transform((s) => s);
    expect(settingsTable(schema)).toBe(
      [
        '| setting | default | meaning |',
        '|---|---|---|',
        '| `host` | required | the host |',
        '| `port` | 587 | its port |',
        "| `tls` | `'a'` | a \\| b |",
        '| `list` | `[]` | a list |',
        '| `maybe` | none | optional |',
        '| `derived` | from host | derived |',
      ].join('\n'),
    );
    expect(() => settingsTable(z.object({ undocumented: z.string() }))).toThrow(/setting undocumented has no description/);
    expect(literal({ a: [1, 'x'], b: {} })).toBe("{ a: [1, 'x'], b: {} }");
  });

  it('replaces only what lies between its own markers, and refuses a page without them', () => {
    const page = 'intro\n<!-- docs:x:start -->\nold\n<!-- docs:x:end -->\nrest\n';
    expect(replaceSection(page, 'x', 'new')).toBe('intro\n<!-- docs:x:start -->\nnew\n<!-- docs:x:end -->\nrest\n');
    expect(() => replaceSection('no markers', 'x', 'new')).toThrow(/expected one line/);
  });
});
