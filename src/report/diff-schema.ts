// The shape of a file's diff in every document mailprov writes (a run's --json, a saved plan), read
// back by `report merge` and `apply PLANFILE`: one list of fields, each reader choosing how strict.
import { z } from 'zod';

export const DIFF_FIELDS = {
  path: z.string(),
  before: z.string().nullable(),
  after: z.string().nullable(),
  masked: z.boolean(),
  secretChanged: z.boolean(),
  meta: z.array(z.string()),
};
