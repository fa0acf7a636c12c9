// Gathering a host's facts: every query of every resource (plus the journal) in one command.
import { CommandError } from '../errors.ts';
import { buildFactScript, parseFacts } from '../facts/gather.ts';
import type { FactQuery, HostFacts } from '../facts/types.ts';
import type { Resource } from '../resources/types.ts';
import type { Connection } from '../transport/ssh.ts';

export async function gatherFacts(conn: Connection, resources: Resource[], extra: FactQuery[] = []): Promise<HostFacts> {
  const built = buildFactScript([{ kind: 'journal' }, ...resources.flatMap((r) => r.facts()), ...extra]);
  const r = await conn.exec(built.script);
  if (r.code !== 0) throw new CommandError(conn.target.name, 'gather facts', r.code, r.stdout, r.stderr, 'fact gathering');
  return parseFacts(r.stdout, built);
}
