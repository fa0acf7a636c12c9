// A binding's playbook for each host it is bound to. A playbook given with its settings is validated
// and built once. A function of the host is called per host, and each distinct result is validated
// and built once (resources are pure, so hosts share them): 1000 hosts in two groups build two.
import type { z } from 'zod';
import { InventoryError } from '../errors.ts';
import type { PlaybookDefinition, PlaybookParts, PlaybookUse } from '../playbook/index.ts';
import { Secret } from '../secrets/index.ts';
import { describeIssue, isPlaybookUse, zodPath, type BindingHost, type PlaybookUseOf } from './schema.ts';

export interface BoundPlaybook {
  name: string;
  parts: PlaybookParts;
}

export interface PreparedBinding {
  index: number;
  /** "all", group and host names. */
  targets: string[];
  use: PlaybookUseOf;
  /** Built at load when `use` does not depend on the host. */
  fixed?: BoundPlaybook;
}

/** Playbooks built so far, by playbook and settings key: what lets hosts with equal settings share one. */
export type BuildCache = Map<PlaybookDefinition<z.ZodType>, Map<string, BoundPlaybook>>;

const FUNCTION_EXPECTED = 'a function of the host returning a playbook with its settings, e.g. (host) => sendmailSmartHost({ ... })';

export function prepareBinding(file: string, index: number, targets: string[], use: PlaybookUseOf): PreparedBinding {
  if (typeof use === 'function') return { index, targets, use };
  return { index, targets, use, fixed: buildPlaybook(file, index, use) };
}

/** The binding's playbook for one host: the fixed one, or the function's result for this host. */
export function playbookFor(file: string, binding: PreparedBinding, host: BindingHost, cache: BuildCache): BoundPlaybook {
  if (binding.fixed) return binding.fixed;
  const use = callUse(file, binding, host);
  const key = settingsKey(use.settings);
  if (key === undefined) return buildPlaybook(file, binding.index, use, host.name);
  let byKey = cache.get(use.playbook);
  if (!byKey) cache.set(use.playbook, (byKey = new Map()));
  let bound = byKey.get(key);
  if (!bound) byKey.set(key, (bound = buildPlaybook(file, binding.index, use, host.name)));
  return bound;
}

function callUse(file: string, binding: PreparedBinding, host: BindingHost): PlaybookUse {
  const field = `playbooks.${binding.index}.use`;
  let use: unknown;
  try {
    use = (binding.use as (host: BindingHost) => unknown)(host);
  } catch (err) {
    throw new InventoryError(file, field, FUNCTION_EXPECTED, `it threw: ${(err as Error)?.message ?? String(err)}`, host.name);
  }
  if (!isPlaybookUse(use)) throw new InventoryError(file, field, FUNCTION_EXPECTED, `it returned ${describeValue(use)}`, host.name);
  return use;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return 'a function (a playbook not called with its settings?)';
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object without playbook and settings';
  return `a ${typeof v}`;
}

/** Validates the settings and builds the playbook; errors name the host when the settings came from it. */
function buildPlaybook(file: string, index: number, use: PlaybookUse, host?: string): BoundPlaybook {
  const name = use.playbook.name;
  const settings = use.playbook.settings.safeParse(use.settings);
  if (!settings.success) {
    const issue = settings.error.issues[0];
    throw new InventoryError(file, zodPath(`playbooks.${index}.use(${name}).settings`, issue.path), describeIssue(issue), undefined, host);
  }
  try {
    return { name, parts: use.playbook.build(settings.data) };
  } catch (err) {
    throw new InventoryError(file, `playbooks.${index}.use(${name})`, 'settings the playbook can build', (err as Error).message, host);
  }
}

const MAX_DEPTH = 32;

/**
 * A key that is equal only for settings that build the same playbook: plain data (object keys in
 * their order, which a renderer may keep) and secrets by their source, never their value. Anything
 * else (a function, a class instance, a cycle) has no key, and the playbook is built for that host alone.
 */
export function settingsKey(value: unknown, depth = 0): string | undefined {
  if (depth > MAX_DEPTH) return undefined;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value}:${value}`;
  if (value === undefined || value === null) return String(value);
  if (value instanceof Secret) return value.isInline ? undefined : `secret:${JSON.stringify(value.source)}`;
  if (Array.isArray(value)) {
    const items = value.map((v) => settingsKey(v, depth + 1));
    return items.includes(undefined) ? undefined : `[${items.join(',')}]`;
  }
  const proto = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) return undefined;
  const entries = Object.entries(value as object).map(([k, v]) => {
    const inner = settingsKey(v, depth + 1);
    return inner === undefined ? undefined : `${JSON.stringify(k)}:${inner}`;
  });
  return entries.includes(undefined) ? undefined : `{${entries.join(',')}}`;
}
