// Planning is pure: resources + facts -> a list of changes (with reasons, diffs, steps) and of
// no-ops (with reasons). Handlers are planned last, once, if anything notified them.
import type { HostFacts } from '../facts/types.ts';
import { isChange, type Change, type NoChange, type Resource } from '../resources/types.ts';

export interface HostPlan {
  changes: Change[];
  unchanged: NoChange[];
}

/**
 * `alreadyChanged`: resources changed outside this plan (files a rollback restored); they are not
 * planned, but count as changed for watchers and notify their handlers.
 */
export function planHost(
  resources: Resource[],
  facts: HostFacts,
  alreadyChanged: ReadonlySet<string> = new Set(),
  mode: 'apply' | 'rollback' = 'apply',
): HostPlan {
  const changed = new Set<string>(alreadyChanged);
  const notified = new Map<string, string[]>();
  const plan: HostPlan = { changes: [], unchanged: [] };
  for (const r of resources) {
    if (alreadyChanged.has(r.id)) for (const h of r.notify) notified.set(h, [...(notified.get(h) ?? []), r.id]);
  }
  const record = (r: Resource, result: Change | NoChange) => {
    if (isChange(result)) {
      plan.changes.push(result);
      changed.add(r.id);
      for (const h of r.notify) notified.set(h, [...(notified.get(h) ?? []), r.id]);
    } else {
      plan.unchanged.push(result);
    }
  };
  // a rollback only rebuilds: handlers act when notified, never to bring a service up by themselves
  for (const r of resources)
    if (!alreadyChanged.has(r.id) && !(mode === 'rollback' && r.handler)) record(r, r.plan(facts, { changed, mode }));
  for (const r of resources) {
    const by = notified.get(r.id);
    if (r.handler && by && r.planNotified) record(r, r.planNotified(facts, by, { changed, mode }));
  }
  return plan;
}

/** Every fact the resources read. */
export function factQueries(resources: Resource[]) {
  return resources.flatMap((r) => r.facts());
}

/** Checks that resource ids are unique and every notify target exists, before any host is touched. */
export function checkResources(resources: Resource[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const r of resources) {
    if (ids.has(r.id)) problems.push(`resource ${r.id} is declared twice`);
    ids.add(r.id);
  }
  for (const r of resources) {
    for (const n of r.notify) {
      const target = resources.find((x) => x.id === n);
      if (!target) problems.push(`${r.id} notifies ${n}, which is not declared`);
      else if (!target.handler) problems.push(`${r.id} notifies ${n}, which cannot be notified`);
    }
  }
  return problems;
}
