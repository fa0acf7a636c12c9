// The inventory's shape, validated with zod so every mistake names its field and what was expected.
import { z } from 'zod';
import type { PlaybookUse } from '../playbook/index.ts';

export const hostKeyPolicySchema = z.enum(['strict', 'accept-new']);

const connectionFields = {
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().min(1).optional(),
  privateKey: z.string().min(1).optional(),
  /** Name of the environment variable holding the passphrase of an encrypted privateKey (never the passphrase itself). */
  privateKeyPassphraseEnv: z.string().min(1).optional(),
  knownHosts: z.string().min(1).optional(),
  hostKeyPolicy: hostKeyPolicySchema.optional(),
  sudo: z.boolean().optional(),
  /** Name of the environment variable holding the sudo password (never the password itself). */
  sudoPasswordEnv: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().optional(),
  /**
   * Jump hosts (OpenSSH's ProxyJump): an inventory host's name or [user@]host[:port], comma separated,
   * first hop first; 'none' for none. Read from Ansible's `-o ProxyJump=` / `-J`.
   */
  jump: z.string().min(1).optional(),
};

export const PORT_EXPECTED = 'an integer port from 1 to 65535';

export const KEEP_GENERATIONS_EXPECTED = 'a whole number of generations to keep on the host, at least 1';

/** What the host's journal keeps (see journal/retention.ts); per inventory in `defaults`, or per host. */
const journalFields = {
  keepGenerations: z
    .number({ error: KEEP_GENERATIONS_EXPECTED })
    .int({ error: KEEP_GENERATIONS_EXPECTED })
    .min(1, { error: KEEP_GENERATIONS_EXPECTED })
    .optional(),
};

/** Free-form variables, as in Ansible: only a playbook's settings schema gives them a type. */
const varsSchema = z.record(z.string(), z.unknown());

export const hostSchema = z
  .object({
    address: z.string().min(1),
    groups: z.array(z.string().min(1)).optional(),
    vars: varsSchema.optional(),
    ...connectionFields,
    ...journalFields,
  })
  .strict();

export const defaultsSchema = z.object({ ...connectionFields, ...journalFields, vars: varsSchema.optional() }).strict();

/** Vars for every host of a group, between `defaults.vars` and the host's own. */
export const groupSchema = z.object({ vars: varsSchema.optional() }).strict();

// biome-ignore lint/suspicious/noExplicitAny: vars are free-form; each playbook's settings schema checks them per host
export type HostVars = Readonly<Record<string, any>>;

/** What a binding's `use` function sees of a host: vars merged as defaults < groups (by name) < host. */
export interface BindingHost {
  readonly name: string;
  readonly groups: readonly string[];
  readonly vars: HostVars;
}

export type PlaybookUseOf = PlaybookUse | ((host: BindingHost) => PlaybookUse);

export const USE_EXPECTED =
  'a playbook with its settings, e.g. sendmailSmartHost({ ... }), or a function of the host returning one: (host) => sendmailSmartHost({ ... })';

export function isPlaybookUse(v: unknown): v is PlaybookUse {
  return typeof v === 'object' && v !== null && 'playbook' in v && 'settings' in v;
}

// A playbook itself is a function too, but of its settings: `use: sendmailSmartHost` is a mistake.
const playbookUseSchema = z.custom<PlaybookUseOf>((v) => isPlaybookUse(v) || (typeof v === 'function' && !('definition' in v)), {
  message: USE_EXPECTED,
});

export const bindingSchema = z
  .object({
    /** "all", a group name, a host name, or a list of them. */
    on: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('all'),
    /** A playbook with its settings, or a function of the host returning one (called per host at load). */
    use: playbookUseSchema,
  })
  .strict();

export const inventorySchema = z
  .object({
    defaults: defaultsSchema.optional(),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a host name of letters, digits, ".", "_" or "-"'), hostSchema),
    groups: z.record(z.string().min(1), groupSchema).optional(),
    playbooks: z.array(bindingSchema).default([]),
  })
  .strict();

export type InventoryInput = z.input<typeof inventorySchema>;
export type HostInput = z.input<typeof hostSchema>;
/** One entry of `playbooks` (also what the default export of an INI inventory's `--with` module holds). */
export type Binding = z.input<typeof bindingSchema>;

/** A zod issue's path as a field name: `playbooks.0.use(x).settings` + `auth.user`. */
export function zodPath(prefix: string, path: PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter(Boolean).join('.');
}

export function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `no such field (known fields only; got ${issue.keys.join(', ')})`;
  return issue.message;
}
