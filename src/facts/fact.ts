// A fact is one declaration: a name, the shell snippet that prints it, and the parser that reads
// the snippet's output back. Whoever needs a fact declares it (the built-in ones are in builtin.ts,
// the journal's in src/journal); the engine batches every query of a host into one remote command.

/** A fact about a host, optionally of an argument (a path, a service name, a list of packages). */
export interface Fact<T, A = void> {
  readonly name: string;
  /** Shell code (run by /bin/sh, LC_ALL=C) printing what `parse` reads; it must not read stdin. */
  script(arg: A): string;
  parse(output: string, arg: A): T;
  /** A query for this fact, to list in a resource's `facts()`. */
  query(arg: A): FactQuery;
}

/** One fact asked of a host: de-duplicated by key, so resources may ask for the same thing. */
export interface FactQuery {
  readonly key: string;
  readonly fact: Fact<unknown, never>;
  readonly arg: unknown;
}

export function defineFact<T, A = void>(def: { name: string; script(arg: A): string; parse(output: string, arg: A): T }): Fact<T, A> {
  const fact: Fact<T, A> = {
    ...def,
    query: (arg: A) => ({ key: factKey(def.name, arg), fact: fact as Fact<unknown, never>, arg }),
  };
  return fact;
}

export function factKey(name: string, arg: unknown): string {
  return arg === undefined ? name : `${name}:${typeof arg === 'string' ? arg : JSON.stringify(arg)}`;
}
