// Connections shared by key and counted by their users: one SSH connection to a jump host serves
// every host behind it, and closes when the last of them is done. A connection that dies is
// forgotten (evict), so the next user opens a new one while the old one's users keep theirs.

export interface Lease<T> {
  readonly value: T;
  /** Idempotent: the last release of a connection closes it. */
  release(): void;
}

interface Entry<T> {
  refs: number;
  ready: Promise<T>;
  close?: () => void;
}

export class SharedConnections<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** How many connections were opened per key, for tests and the benchmark. */
  readonly opened = new Map<string, number>();

  /** The open connection for `key`, or one opened now by `open` (one opening shared by concurrent callers). */
  async acquire(key: string, open: () => Promise<{ value: T; close(): void }>): Promise<Lease<T>> {
    let entry = this.entries.get(key);
    if (!entry) {
      const fresh: Entry<T> = {
        refs: 0,
        ready: open().then((r) => {
          fresh.close = r.close;
          return r.value;
        }),
      };
      // a failed opening is forgotten at once: the next caller tries again
      fresh.ready.catch(() => this.forget(key, fresh));
      this.entries.set(key, fresh);
      this.opened.set(key, (this.opened.get(key) ?? 0) + 1);
      entry = fresh;
    }
    const held = entry;
    held.refs++;
    let value: T;
    try {
      value = await held.ready;
    } catch (err) {
      held.refs--;
      throw err;
    }
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        this.forget(key, held);
        held.close?.();
      },
    };
  }

  /** The connection behind `key` died: later callers get a new one. */
  evict(key: string, value?: T): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    if (value === undefined) this.forget(key, entry);
    else entry.ready.then((v) => v === value && this.forget(key, entry)).catch(() => {});
  }

  /** Connections open or being opened now. */
  get size(): number {
    return this.entries.size;
  }

  /** Users of the connection behind `key` now (0 when there is none). */
  users(key: string): number {
    return this.entries.get(key)?.refs ?? 0;
  }

  private forget(key: string, entry: Entry<T>): void {
    if (this.entries.get(key) === entry) this.entries.delete(key);
  }
}
