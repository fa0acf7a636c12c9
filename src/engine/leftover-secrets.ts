// Credentials mailprov wrote that no playbook bound to the host manages any more (the host left a
// group, its binding went, a playbook stopped declaring the file): they stay on the host until
// someone removes them, so plan and apply say so, with the commands that do it. What mailprov wrote
// is what the journal recorded: the sensitive files of the apply generations still in force.
import { testFact } from '../facts/builtin.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { Generation } from '../journal/records.ts';
import type { Finding } from '../playbook/index.ts';
import type { Resource } from '../resources/types.ts';
import { sh, shellQuote } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';

/** Sensitive paths written by a complete apply generation that no resource manages (path -> newest such generation). */
export function unmanagedSecrets(generations: Generation[], resources: Resource[]): Map<string, number> {
  const managed = new Set(resources.flatMap((r) => [...(r.file ? [r.file.path] : []), ...(r.writes ?? [])]));
  const found = new Map<string, number>();
  for (const g of generations) {
    if (g.kind !== 'apply' || g.status !== 'complete') continue;
    for (const path of g.sensitive) if (!managed.has(path)) found.set(path, g.id);
  }
  return found;
}

/** A command line for a person to copy: words quoted only where the shell needs it. */
const commandLine = (words: string[]) => words.map((w) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : shellQuote(w))).join(' ');

/** The finding for the ones still on the host, if any. */
export function leftoverFinding(host: string, inventory: string, left: Map<string, number>): Finding | undefined {
  if (!left.size) return undefined;
  const paths = [...left.keys()];
  const gens = [...new Set(left.values())].sort((a, b) => a - b);
  return {
    level: 'warning',
    code: 'secrets-left-behind',
    message:
      `${paths.join(', ')} still hold${paths.length === 1 ? 's' : ''} credentials mailprov wrote (generation ${gens.join(', ')}), ` +
      'and no playbook bound to this host manages them any more. Remove them on the host with ' +
      `\`${commandLine(['rm', '-f', '--', ...paths])}\`, then the journal's saved copies with ` +
      `\`${commandLine(['mailprov', 'forget-secrets', inventory || '<inventory>', '--host', host])}\``,
  };
}

/** Reads which of the unmanaged sensitive paths still exist and are not empty (one round trip, only when there are some). */
export async function findLeftoverSecrets(
  conn: Connection,
  host: string,
  inventory: string,
  generations: Generation[],
  resources: Resource[],
): Promise<Finding | undefined> {
  const candidates = unmanagedSecrets(generations, resources);
  if (!candidates.size) return undefined;
  // an empty file holds no credential (Debian's make recreates maps it once knew, empty)
  const exists = (p: string) => sh`test -s ${p}`;
  const facts = await gatherFacts(
    conn,
    [...candidates.keys()].map((p) => testFact.query(exists(p))),
  );
  const left = new Map([...candidates].filter(([p]) => facts.get(testFact, exists(p)) === 0));
  return leftoverFinding(host, inventory, left);
}
