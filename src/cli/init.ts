// `mailprov init [dir]`: a commented starter inventory (inventories/starter.ts, which the tests and the
// type checker keep valid), written where the user wants it; never over an existing file.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MailprovError } from '../errors.ts';
import { packageRoot } from '../paths.ts';

export interface InitCommandOptions {
  force?: boolean;
}

export function initCommand(dir: string, opts: InitCommandOptions): number {
  const target = join(resolve(dir), 'inventory.ts');
  if (existsSync(target) && !opts.force) throw new MailprovError(`${target} already exists; pass --force to replace it`);
  mkdirSync(resolve(dir), { recursive: true });
  copyFileSync(join(packageRoot(), 'inventories', 'starter.ts'), target);
  process.stdout.write(
    `wrote ${target}\n` +
      'next: put your hosts and smart host in it, export SMTP_PASSWORD, then\n' +
      `  mailprov check ${target}\n  mailprov plan ${target}\n`,
  );
  return 0;
}
