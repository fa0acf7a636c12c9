// service: kept running; restarted (or reloaded) once, after every other resource, when notified.
import { serviceFact } from '../facts/builtin.ts';
import type { HostFacts, OsFacts } from '../facts/types.ts';
import { sh } from '../transport/quote.ts';
import { serviceId, shortName } from './ids.ts';
import type { Change, NoChange, Resource } from './types.ts';

// its id helper lives with the others; kept importable from here
export { serviceId };

export interface ServiceOptions {
  name: string;
  /** Extra units started/restarted together (RHEL 7+: sm-client with sendmail), per host. */
  companions?: (facts: HostFacts) => string[];
  state?: 'running';
  /**
   * Hosts without systemd: every pid file the daemon writes (per distro). It runs exactly when one
   * names a live process, read instead of running the init script's `status` (slow for some
   * daemons, and wrong for Debian's sendmail, whose status exits 0 when it is stopped).
   */
  pidFiles?: readonly string[];
  /** With pidFiles: how the daemon's process name begins (a pid since given to another program is not it). */
  processName?: string;
  onNotify?: 'restart' | 'reload';
}

export function serviceCommand(os: OsFacts, name: string, action: 'start' | 'restart' | 'reload' | 'stop'): string {
  if (os.serviceManager === 'systemd') return sh`systemctl ${action} ${name}`;
  return sh`if command -v service >/dev/null 2>&1; then service ${name} ${action}; else ${`/etc/init.d/${name}`} ${action}; fi`;
}

export function service(opts: ServiceOptions): Resource {
  const id = serviceId(opts.name);
  const onNotify = opts.onNotify ?? 'restart';
  const query = opts.pidFiles?.length
    ? { name: opts.name, pidFiles: opts.pidFiles, ...(opts.processName ? { processName: opts.processName } : {}) }
    : opts.name;
  const steps = (facts: HostFacts, action: 'start' | 'restart' | 'reload') =>
    [opts.name, ...(opts.companions?.(facts) ?? [])].map((u) => ({
      label: `${action} ${u}`,
      command: serviceCommand(facts.os, u, action),
    }));
  return {
    id,
    notify: [],
    handler: true,
    facts: () => [serviceFact.query(query)],
    plan(facts): Change | NoChange {
      const fact = facts.get(serviceFact, query);
      if (fact.running) return { resourceId: id, reason: `${opts.name} is running` };
      return {
        resourceId: id,
        action: 'start',
        summary: `start ${opts.name}`,
        reason: fact.known ? 'not running' : 'not installed yet',
        steps: steps(facts, 'start'),
        undo: [],
      };
    },
    planNotified(facts, notifiedBy, ctx): Change | NoChange {
      if (ctx.changed.has(id)) return { resourceId: id, reason: `${opts.name} is started in this run already` };
      // a rollback restarts what runs, and starts nothing that was not running before
      if (ctx.mode === 'rollback' && !facts.get(serviceFact, query).running)
        return { resourceId: id, reason: `${opts.name} is not running: nothing to restart` };
      return {
        resourceId: id,
        action: onNotify,
        summary: `${onNotify} ${opts.name}`,
        reason: `because ${notifiedBy.map(shortName).join(', ')} changed`,
        steps: steps(facts, onNotify),
        undo: [],
      };
    },
  };
}
