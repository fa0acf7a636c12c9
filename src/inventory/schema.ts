// The inventory's shape, validated with zod so every mistake names its field and what was expected.
import { z } from 'zod';

export const hostKeyPolicySchema = z.enum(['strict', 'accept-new']);

const connectionFields = {
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().min(1).optional(),
  privateKey: z.string().min(1).optional(),
  knownHosts: z.string().min(1).optional(),
  hostKeyPolicy: hostKeyPolicySchema.optional(),
  sudo: z.boolean().optional(),
  /** Name of the environment variable holding the sudo password (never the password itself). */
  sudoPasswordEnv: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().optional(),
  /** Jump hosts: an inventory host's name or [user@]host[:port], comma separated, first hop first; 'none' for none. */
  jump: z.string().min(1).optional(),
};

export const KEEP_GENERATIONS_EXPECTED = 'a whole number of generations to keep on the host, at least 1';

/** What the host's journal keeps (see journal/retention.ts); per inventory in `defaults`, or per host. */
const journalFields = {
  keepGenerations: z
    .number({ error: KEEP_GENERATIONS_EXPECTED })
    .int({ error: KEEP_GENERATIONS_EXPECTED })
    .min(1, { error: KEEP_GENERATIONS_EXPECTED })
    .optional(),
};

export const hostSchema = z
  .object({
    address: z.string().min(1),
    groups: z.array(z.string().min(1)).optional(),
    vars: z.record(z.string(), z.unknown()).optional(),
    ...connectionFields,
    ...journalFields,
  })
  .strict();

export const defaultsSchema = z.object({ ...connectionFields, ...journalFields }).strict();

const playbookUseSchema = z.custom<{ playbook: { name: string }; settings: unknown }>(
  (v) => typeof v === 'object' && v !== null && 'playbook' in v && 'settings' in v,
  { message: 'a playbook with its settings, e.g. sendmailSmartHost({ ... })' },
);

export const bindingSchema = z
  .object({
    /** "all", a group name, a host name, or a list of them. */
    on: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('all'),
    use: playbookUseSchema,
  })
  .strict();

export const inventorySchema = z
  .object({
    defaults: defaultsSchema.optional(),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a host name of letters, digits, ".", "_" or "-"'), hostSchema),
    playbooks: z.array(bindingSchema).default([]),
  })
  .strict();

export type InventoryInput = z.input<typeof inventorySchema>;
export type HostInput = z.input<typeof hostSchema>;
