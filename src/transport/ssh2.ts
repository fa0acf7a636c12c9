// ssh2's client and key parser, loaded without the rest of ssh2: its index also loads its server,
// its key generator and its HTTP agents (and with them node:http and node:https), about 7 ms of CPU
// at every start for what mailprov never uses. Were a release of ssh2 to move these two files, the
// whole package is loaded instead, as before.
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

const require = createRequire(import.meta.url);

function part<T>(file: string, fromWhole: (whole: typeof Ssh2) => T): T {
  try {
    return require(`ssh2/lib/${file}`) as T;
  } catch {
    return fromWhole(require('ssh2') as typeof Ssh2);
  }
}

export const Client: typeof Ssh2.Client = part('client.js', (whole) => whole.Client);

export const { parseKey }: { parseKey: typeof Ssh2.utils.parseKey } = part('protocol/keyParser.js', (whole) => whole.utils);
