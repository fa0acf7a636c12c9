// Every kind of undo record, and the resource kind that owns it. A new resource kind that does
// more than write files adds its handler here, beside its own file.
import { OperationError } from '../errors.ts';
import type { UndoRecord } from '../journal/records.ts';
import { firewalldServiceUndo, iptablesRuleUndo } from './firewall.ts';
import { firewalldRichUndo, nftRulesUndo, ufwRulesUndo } from './firewall-native.ts';
import { lineEntriesUndo } from './line-entries.ts';
import { packagesUndo } from './packages.ts';
import type { UndoHandler } from './types.ts';

const handlers = new Map<string, UndoHandler>(
  (
    [packagesUndo, iptablesRuleUndo, firewalldServiceUndo, nftRulesUndo, ufwRulesUndo, firewalldRichUndo, lineEntriesUndo] as UndoHandler[]
  ).map((h) => [h.kind, h]),
);

/** The handler for a record, with the record checked by it; a kind this mailprov does not know is an error. */
export function undoHandlerFor(record: UndoRecord): { handler: UndoHandler; record: UndoRecord } {
  const handler = handlers.get(record.kind);
  if (!handler)
    throw new OperationError(
      `undo record of kind ${JSON.stringify(record.kind)} is unknown to this mailprov (recorded by a newer version?)`,
    );
  return { handler, record: handler.parse(record) };
}
