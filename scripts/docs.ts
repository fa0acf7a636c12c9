// `npm run docs`: the reference sections of docs/ generated from the code, so they cannot drift from
// it. Each playbook's settings table comes from its zod schema (descriptions set with .describe() or
// .meta({ description }), defaults read from .default(), or .meta({ defaultText }) where the default
// is derived from other settings); the CLI reference comes from the commander definitions of
// src/cli/main.ts. Each generated section lives between two marker lines in a hand-written page:
//   <!-- docs:NAME:start -->  ...  <!-- docs:NAME:end -->
// test/unit/docs/generated.test.ts renders them in memory and fails when a committed page is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, type Option } from 'commander';
import { z } from 'zod';
import { main } from '../src/cli/main.ts';
import { mailAliasesSettingsSchema } from '../playbooks/mail-aliases/settings.ts';
import { sendmailSettingsSchema } from '../playbooks/sendmail-smarthost/settings.ts';

/** One generated section: the page it lives in, its marker name, and how to render it. */
export interface Section {
  page: string;
  name: string;
  render: () => Promise<string> | string;
}

export const SECTIONS: Section[] = [
  { page: 'docs/playbooks/sendmail-smarthost.md', name: 'settings', render: () => settingsTable(sendmailSettingsSchema) },
  { page: 'docs/playbooks/mail-aliases.md', name: 'settings', render: () => aliasesTable(mailAliasesSettingsSchema) },
  { page: 'docs/cli.md', name: 'commands', render: async () => cliReference(await cliProgram()) },
];

// ---- zod schemas -> tables

type Schema = z.core.$ZodType;

function meta(s: Schema): { description?: string; defaultText?: string } {
  return (z.globalRegistry.get(s) ?? {}) as { description?: string; defaultText?: string };
}

/** The object a settings schema validates, under the transforms it ends with. */
function objectOf(s: Schema): z.core.$ZodObject {
  const def = s._zod.def as { type: string; in?: Schema };
  if (def.type === 'pipe' && def.in) return objectOf(def.in);
  if (def.type === 'object') return s as z.core.$ZodObject;
  throw new Error(`expected an object schema (possibly with transforms), got ${def.type}`);
}

/** A value as it would be written in an inventory: 'verify', ['PLAIN'], { a: 1 }. */
export function literal(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length ? `{ ${entries.map(([k, x]) => `${k}: ${literal(x)}`).join(', ')} }` : '{}';
  }
  return String(v);
}

/** The default column: required, a value from .default(), the schema's defaultText, or none. */
function defaultOf(field: Schema): string {
  const text = meta(field).defaultText;
  if (text) return text;
  let s: Schema = field;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: Schema; defaultValue?: unknown };
    if (def.type === 'default') {
      const v = def.defaultValue;
      return typeof v === 'number' || typeof v === 'boolean' ? String(v) : `\`${literal(v)}\``;
    }
    if (def.type === 'optional') return 'none';
    if (!def.innerType) return 'required';
    s = def.innerType;
  }
}

/** A table cell: no line breaks, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

function describedOrFail(where: string, s: Schema): string {
  const d = meta(s).description;
  if (!d) throw new Error(`${where} has no description: add .describe('...') to it in its settings schema`);
  return d;
}

export function settingsTable(schema: Schema): string {
  const shape = objectOf(schema)._zod.def.shape;
  const rows = Object.entries(shape).map(
    ([name, field]) => `| \`${name}\` | ${cell(defaultOf(field))} | ${cell(describedOrFail(`setting ${name}`, field))} |`,
  );
  return ['| setting | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** A playbook whose settings are a record (alias name -> targets): one row for the key, one for the value. */
export function aliasesTable(schema: Schema): string {
  let s: Schema = schema;
  while ((s._zod.def as { type: string }).type === 'pipe') s = (s._zod.def as unknown as { in: Schema }).in;
  const def = s._zod.def as unknown as { type: string; keyType: Schema; valueType: Schema };
  if (def.type !== 'record') throw new Error(`expected a record schema, got ${def.type}`);
  return [
    '| key | value |',
    '|---|---|',
    `| ${cell(describedOrFail('the settings record', schema))} | ${cell(describedOrFail('the record value', def.valueType))} |`,
  ].join('\n');
}

// ---- commander -> the CLI reference

/**
 * The program main() builds, without running anything: main() ends by calling parseAsync on its
 * program, so that one call is caught here and returns at once.
 */
export async function cliProgram(): Promise<Command> {
  const parseAsync = Command.prototype.parseAsync;
  let program: Command | undefined;
  Command.prototype.parseAsync = async function (this: Command) {
    program = this;
    return this;
  };
  try {
    await main([]);
  } finally {
    Command.prototype.parseAsync = parseAsync;
  }
  if (!program) throw new Error('src/cli/main.ts built no program');
  return program;
}

function optionDefault(o: Option): string {
  const v = o.defaultValue as unknown;
  if (v === undefined || typeof v === 'boolean') return '';
  return ` (default: \`${Array.isArray(v) ? v.join(',') : String(v)}\`)`;
}

function commandSection(cmd: Command, path: string[]): string[] {
  const name = [...path, cmd.name()].join(' ');
  const out: string[] = [];
  if (cmd.commands.length && !cmd.registeredArguments.length && !cmd.options.length) {
    // a group of subcommands (report, sandbox): its description, then each subcommand
    out.push(`### mailprov ${name}`, '', cell(cmd.description() || ''), '');
    for (const sub of cmd.commands) out.push(...commandSection(sub, [...path, cmd.name()]));
    return out;
  }
  out.push(`### mailprov ${name} ${cmd.usage()}`.trimEnd(), '');
  if (cmd.description()) out.push(cell(cmd.description()), '');
  const rows = [
    ...cmd.registeredArguments.map((a) => {
      const shown = a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`;
      const dflt = a.defaultValue === undefined ? '' : ` (default: \`${String(a.defaultValue)}\`)`;
      return `| \`${shown}\` | ${cell(a.description)}${dflt} |`;
    }),
    ...cmd.options.map((o) => `| \`${o.flags}\` | ${o.mandatory ? 'required: ' : ''}${cell(o.description)}${optionDefault(o)} |`),
  ];
  if (rows.length) out.push('| argument or option | meaning |', '|---|---|', ...rows, '');
  for (const sub of cmd.commands) out.push(...commandSection(sub, [...path, cmd.name()]));
  return out;
}

export function cliReference(program: Command): string {
  const top = program.options.map((o) => `\`${o.flags}\` (${o.description})`);
  return [
    `\`mailprov <command> [options]\`; \`mailprov help <command>\` or \`--help\` prints the same. Also: ${top.join(', ')}.`,
    '',
    ...program.commands.flatMap((c) => commandSection(c, [])),
  ]
    .join('\n')
    .trimEnd();
}

// ---- pages

export const start = (name: string) => `<!-- docs:${name}:start -->`;
export const end = (name: string) => `<!-- docs:${name}:end -->`;

/** The page with its section replaced; the markers must each be alone on one line, once. */
export function replaceSection(page: string, name: string, body: string): string {
  const lines = page.split('\n');
  const a = lines.indexOf(start(name));
  const b = lines.indexOf(end(name));
  if (a < 0 || b < a || lines.lastIndexOf(start(name)) !== a || lines.lastIndexOf(end(name)) !== b) {
    throw new Error(`expected one line ${start(name)} followed by one line ${end(name)}`);
  }
  return [...lines.slice(0, a + 1), body, ...lines.slice(b)].join('\n');
}

/** Every page with a generated section, as it should be: path -> text. */
export async function renderPages(root: string): Promise<Map<string, string>> {
  const pages = new Map<string, string>();
  for (const s of SECTIONS) {
    const text = pages.get(s.page) ?? readFileSync(join(root, s.page), 'utf8');
    pages.set(s.page, replaceSection(text, s.name, await s.render()));
  }
  return pages;
}

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [page, text] of await renderPages(ROOT)) {
    const file = join(ROOT, page);
    if (readFileSync(file, 'utf8') !== text) {
      writeFileSync(file, text);
      console.log(`wrote ${page}`);
    }
  }
}
