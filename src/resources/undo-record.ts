// Undo records are read back from the host: each kind checks its own with a schema before use.
import type { z } from 'zod';
import { OperationError } from '../errors.ts';
import type { UndoRecord } from '../journal/records.ts';

export function parseRecord<S extends z.ZodType>(schema: S, record: UndoRecord): z.output<S> {
  const r = schema.safeParse(record);
  if (!r.success)
    throw new OperationError(
      `undo record of kind ${record.kind} is not valid (${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}): refusing to act on it`,
    );
  return r.data;
}
