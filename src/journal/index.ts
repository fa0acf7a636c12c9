// The journal lives on the host, under /var/lib/mailprov, so a rollback works from any machine
// that has the inventory. Each apply that changes a host records a generation before its first
// change: the files it touches are copied aside right before each write (or noted absent), with
// the packages it installs and the firewall rules it adds. A flock held by an SSH channel keeps
// one apply per host; it is released by the kernel when the holder dies, so it can't go stale.
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { ClientChannel } from 'ssh2';
import { MailprovError } from '../errors.ts';
import type { Change } from '../resources/types.ts';
import { shellQuote, sh } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';

export const JOURNAL_DIR = '/var/lib/mailprov';
export const GENERATIONS_DIR = `${JOURNAL_DIR}/generations`;

export type GenerationStatus = 'in-progress' | 'complete' | 'failed' | 'rolled-back';

export interface FirewallRuleRef {
  chain: string;
  rule: string;
}

export interface Generation {
  id: number;
  kind: 'apply' | 'rollback';
  status: GenerationStatus;
  startedAt: string;
  finishedAt?: string;
  by: string;
  inventory: string;
  summary: string[];
  /** Files this generation may touch, in order; each is backed up right before its first write. */
  files: string[];
  packageManager: string;
  packagesInstalled: string[];
  packagesRemoved: string[];
  rulesAdded: FirewallRuleRef[];
  rulesRemoved: FirewallRuleRef[];
  firewalldServicesAdded?: string[];
  /** Files holding secrets: their diffs are masked whole unless a playbook knows how to mask them. */
  sensitive: string[];
  /** For rollbacks: the generations undone. */
  undid?: number[];
  reason?: string;
}

export class LockError extends MailprovError {}

export function genDir(id: number): string {
  return `${GENERATIONS_DIR}/${id}`;
}

/** Script printing every generation's meta.json, one per line (part of the fact batch). */
export const JOURNAL_FACT_SCRIPT = `for f in ${GENERATIONS_DIR}/*/meta.json; do [ -f "$f" ] && tr -d '\\n' < "$f" && echo; done; true`;

export function parseJournal(text: string): Generation[] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Generation)
    .sort((a, b) => a.id - b.id);
}

export function controllerIdentity(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

/** Command that writes a generation's meta.json atomically (content on stdin). */
export function writeMetaCommand(id: number): string {
  const dir = genDir(id);
  return sh`umask 077 && mkdir -p ${`${dir}/files`} && cat > ${`${dir}/meta.json.tmp`} && mv -f ${`${dir}/meta.json.tmp`} ${`${dir}/meta.json`}`;
}

export async function writeMeta(conn: Connection, gen: Generation): Promise<void> {
  const r = await conn.exec(writeMetaCommand(gen.id), JSON.stringify(gen, null, 1) + '\n');
  if (r.code !== 0) throw new MailprovError(`${conn.target.name}: cannot record generation ${gen.id} in ${JOURNAL_DIR}: ${r.stderr.trim()}`);
}

/** Copies a file aside before its first write in this generation (or notes that it was absent). */
export function backupCommand(id: number, path: string): string {
  const dir = genDir(id);
  const copy = `${dir}/files${path}`;
  return [
    sh`if [ ! -e ${copy} ] && ! grep -qxF ${path} ${`${dir}/absent`} 2>/dev/null; then`,
    sh`  if [ -e ${path} ] || [ -L ${path} ]; then mkdir -p "$(dirname ${copy})" && cp -a ${path} ${copy};`,
    sh`  else echo ${path} >> ${`${dir}/absent`}; fi`,
    'fi',
  ].join('\n');
}

/** Files a change writes (its file undo records, and a firewall rule's save file). */
export function touchedFiles(change: Change): string[] {
  return change.undo.flatMap((u) => (u.kind === 'file' ? [u.path] : u.kind === 'iptables-rule' && u.persistFile ? [u.persistFile] : []));
}

/** Restores the files of one generation, newest write first: a copy back, or removal if it was absent. */
export function restoreFilesCommand(gen: Generation): string {
  const dir = genDir(gen.id);
  // a firewall watcher of this generation must not act after the rollback
  const lines = [sh`[ -f ${`${dir}/firewall-watcher.pid`} ] && kill "$(cat ${`${dir}/firewall-watcher.pid`})" 2>/dev/null; true`, 'set -e'];
  for (const path of [...gen.files].reverse()) {
    const copy = `${dir}/files${path}`;
    lines.push(
      // identical content, owner and mode: nothing to restore, and nothing to rebuild or restart
      sh`if [ -f ${copy} ] && [ -f ${path} ] && cmp -s ${copy} ${path} && [ "$(stat -c %a:%U:%G ${copy})" = "$(stat -c %a:%U:%G ${path})" ]; then :;`,
      // touched after the copy: make rebuilds from sources newer than their targets, and the
      // copy's old mtime would make `make` keep the sendmail.cf being rolled back
      sh`elif [ -e ${copy} ] || [ -L ${copy} ]; then cp -a ${copy} ${`${path}.mailprov-restore`} && touch ${`${path}.mailprov-restore`} && mv -f ${`${path}.mailprov-restore`} ${path}; echo ${`restored ${path}`};`,
      sh`elif grep -qxF ${path} ${`${dir}/absent`} 2>/dev/null; then rm -f ${path}; echo ${`removed ${path}`}; fi`,
    );
  }
  return lines.join('\n');
}

export function deleteRuleCommand(r: FirewallRuleRef): string {
  const args = r.rule.split(' ');
  return sh`while iptables -w -C ${r.chain} ${args} 2>/dev/null; do iptables -w -D ${r.chain} ${args}; done`;
}

/** Holds the host's lock for as long as the returned release() is not called (or we live). */
export async function acquireLock(conn: Connection, info: string): Promise<{ release(): void }> {
  const channel = await conn.openChannel(
    `mkdir -p ${JOURNAL_DIR} && chmod 0700 ${JOURNAL_DIR} && exec flock -n ${JOURNAL_DIR}/lock sh -c 'printf "%s\\n" "$1" > ${JOURNAL_DIR}/lock.info; echo LOCKED; exec cat >/dev/null' sh ${shellQuote(info)}`,
  );
  const outcome = await new Promise<'locked' | 'busy' | 'timeout'>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve('timeout'), 30_000);
    channel.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('LOCKED')) {
        clearTimeout(timer);
        resolve('locked');
      }
    });
    channel.on('close', () => {
      clearTimeout(timer);
      resolve('busy');
    });
  });
  if (outcome === 'timeout') {
    channel.close();
    throw new LockError(`${conn.target.name}: taking the host's lock did not answer within 30 s (a sudo prompt?)`);
  }
  if (outcome === 'busy') {
    const holder = (await conn.exec(`cat ${JOURNAL_DIR}/lock.info 2>/dev/null`)).stdout.trim();
    throw new LockError(`${conn.target.name}: another mailprov run holds the host's lock (${holder || 'holder unknown'}); try again when it has finished`);
  }
  return { release: () => channel.end() };
}

export type { ClientChannel };

export function newRunId(): string {
  return randomBytes(4).toString('hex');
}
