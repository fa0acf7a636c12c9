// The journal lives on the host, under /var/lib/mailprov, so a rollback works from any machine
// that has the inventory. Each apply that changes a host records a generation before its first
// change: the files it touches are copied aside right before each write (or noted absent), with
// the resources' own undo records. A lock held by an SSH channel keeps one run per host.
export * from './records.ts';
export { HostJournal, journalFact, controllerIdentity, type GenerationStart } from './journal.ts';
export { genDir, JOURNAL_DIR, GENERATIONS_DIR } from './scripts.ts';
export { acquireLock } from './lock.ts';
