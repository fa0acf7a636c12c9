// The journal lives on the host, under /var/lib/mailprov, so a rollback works from any machine
// that has the inventory. Each apply that changes a host records a generation before its first
// change: the files it touches are copied aside right before each write (or noted absent), with
// the resources' own undo records. A lock held by an SSH channel keeps one run per host. Only the
// newest generations are kept (retention.ts), and forget-secrets removes the saved secrets.
export * from './records.ts';
export { HostJournal, journalFact, controllerIdentity, type GenerationStart, type PruneOutcome } from './journal.ts';
export { genDir, JOURNAL_DIR, GENERATIONS_DIR, PRUNED_FILE } from './scripts.ts';
export * from './retention.ts';
export { acquireLock, type HeldLock } from './lock.ts';
