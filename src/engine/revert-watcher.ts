// A change that could cut the controller off (a firewall rule) is made under a watcher: a detached
// process on the host (the idea of iptables-apply and deploy-rs's magic rollback) that undoes it
// unless a fresh SSH connection confirms it in time. The watcher and the confirmation agree on one
// atomic decision, `mkdir` of a decision folder: whoever makes it wins, the other stands down. A pid
// read from a file is killed only if that process is still the watcher (its command line says so).
import { randomBytes } from 'node:crypto';
import { OperationError } from '../errors.ts';
import { genDir } from '../journal/index.ts';
import { sh } from '../transport/quote.ts';
import { script } from '../transport/script.ts';
import type { Step } from '../resources/types.ts';
import type { Runner } from '../transport/runner.ts';

export interface Watch {
  /** Folder of this watch's decision, pid file and tag, under the generation's folder. */
  base: string;
  /** A word only this watcher's command line holds. */
  tag: string;
}

export function newWatch(genId: number, index: number, root?: string): Watch {
  return {
    base: `${genDir(genId, root)}/firewall-${index}`,
    tag: `mailprov-firewall-watcher-${genId}-${index}-${randomBytes(6).toString('hex')}`,
  };
}

/** Shell that kills the pid in `<base>.pid` only if it is still the watcher tagged `tag`. */
function killWatcher(w: Watch): string {
  return sh`pid=$(cat ${`${w.base}.pid`} 2>/dev/null); if [ -n "$pid" ] && tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- ${w.tag}; then kill "$pid" 2>/dev/null; fi; rm -f ${`${w.base}.pid`}`;
}

/** Starts the watcher: after `seconds`, unless the decision was taken, it runs the revert steps. */
export function watcherCommand(w: Watch, revert: Step[], seconds: number): string {
  // the tag is a comment line of its own: it names the watcher's process, and is no step
  const watcher = `# ${w.tag}\n${script([
    `sleep ${Math.max(1, Math.floor(seconds))}`,
    sh`mkdir ${`${w.base}.decided`} 2>/dev/null || exit 0`,
    sh`echo reverted > ${`${w.base}.decided/outcome`}`,
    sh`rm -f ${`${w.base}.pid`}`,
    ...revert.map((s) => s.command),
  ])}`;
  return sh`rm -rf ${`${w.base}.decided`} && setsid sh -c ${watcher} >/dev/null 2>&1 </dev/null & echo $! > ${`${w.base}.pid`}`;
}

/** Takes the decision for the confirmation, over a fresh connection; fails if the watcher took it first. */
export function confirmCommand(w: Watch): string {
  return [
    sh`if mkdir ${`${w.base}.decided`} 2>/dev/null; then echo confirmed > ${`${w.base}.decided/outcome`};` +
      ` ${killWatcher(w)}; echo confirmed;`,
    sh`else echo "the host had decided already: $(cat ${`${w.base}.decided/outcome`} 2>/dev/null)" >&2; exit 3; fi`,
  ].join('\n');
}

/** Takes every pending decision of a generation for its rollback, so no watcher acts afterwards. */
export function settleWatchersCommand(genId: number, root?: string): string {
  const dir = genDir(genId, root);
  return sh`for p in ${dir}/firewall-*.pid; do [ -f "$p" ] || continue; b=\${p%.pid}; mkdir "$b.decided" 2>/dev/null && echo rolled-back > "$b.decided/outcome"; pid=$(cat "$p"); if [ -n "$pid" ] && tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- ${`mailprov-firewall-watcher-${genId}-`}; then kill "$pid" 2>/dev/null; fi; rm -f "$p"; done; true`;
}

export async function confirmOverFreshConnection(fresh: Runner, w: Watch): Promise<void> {
  const r = await fresh.exec(confirmCommand(w));
  if (r.code !== 0)
    throw new OperationError('the firewall change was reverted by the host before it could be confirmed (the confirmation came too late)');
  fresh.log('firewall change confirmed over a fresh SSH connection');
}
