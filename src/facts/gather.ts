// Gathers every fact a host's resources need in ONE remote command: a small sh script with one
// section per query, each introduced by a marker line carrying a random nonce (so no file content
// can forge a section). The parser turns the sections back into HostFacts. The sections run in
// one shell: what several read (dpkg's list, iptables' rules) is kept in an mp_ variable by the
// first, and a section that finds none reads it itself, so the order of the queries never matters.
import { randomBytes } from 'node:crypto';
import { CommandError, FactError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import { shellQuote } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';
import { osFact } from './builtin.ts';
import type { Fact, FactQuery } from './fact.ts';
import type { HostFacts } from './types.ts';

/** De-duplicates queries (several resources may read the same file). `os` is always included, first. */
export function uniqueQueries(queries: FactQuery[]): FactQuery[] {
  const seen = new Map<string, FactQuery>([['os', osFact.query()]]);
  for (const q of queries) if (!seen.has(q.key)) seen.set(q.key, q);
  return [...seen.values()];
}

export interface FactScript {
  script: string;
  marker: string;
  queries: FactQuery[];
}

export function buildFactScript(queries: FactQuery[], nonce = randomBytes(8).toString('hex')): FactScript {
  const marker = `@@mailprov-${nonce}@@`;
  const unique = uniqueQueries(queries);
  let script = 'export LC_ALL=C\n';
  // each section is named by its query's place, not its key: a key may hold a line break (a
  // check of several lines), which would split the marker line and lose the section
  for (const [i, q] of [...unique, { key: 'end', script: 'true' }].entries()) {
    const body = 'fact' in q ? (q.fact as Fact<unknown, unknown>).script(q.arg) : q.script;
    script += `printf '%s\\n' ${shellQuote(`${marker} ${i === unique.length ? 'end' : i}`)}\n${body}\n`;
  }
  return { script, marker, queries: unique };
}

export function parseFacts(output: string, built: FactScript): HostFacts {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let buf: string[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(built.marker + ' ')) {
      if (current !== undefined) sections.set(current, buf.join('\n'));
      current = line.slice(built.marker.length + 1);
      buf = [];
    } else if (current !== undefined) {
      buf.push(line);
    }
  }
  if (current !== undefined) sections.set(current, buf.join('\n'));
  if (!sections.has('end')) throw new FactError('fact gathering output was cut short (no end marker)');
  const values = new Map<string, unknown>();
  for (const [i, q] of built.queries.entries())
    values.set(q.key, (q.fact as Fact<unknown, unknown>).parse(sections.get(String(i)) ?? '', q.arg));
  return factsFrom(values);
}

/** HostFacts over parsed values, keyed by query key. */
export function factsFrom(values: Map<string, unknown>): HostFacts {
  return {
    os: values.get('os') as HostFacts['os'],
    get<T, A>(fact: Fact<T, A>, arg: A): T {
      const key = fact.query(arg).key;
      if (!values.has(key)) throw new FactError(`fact ${key} was not gathered (a resource reads a fact its facts() does not list)`);
      return values.get(key) as T;
    },
  };
}

/** Runs the queries on the host in one command. A failure reports stderr only: stdout holds file contents. */
export async function gatherFacts(conn: Connection, queries: FactQuery[]): Promise<HostFacts> {
  const built = buildFactScript(queries);
  const r = await conn.exec(built.script);
  if (r.code !== 0) throw new CommandError(conn.target.name, 'gather facts', r.code, '', redact(r.stderr), 'fact gathering');
  return parseFacts(r.stdout, built);
}
