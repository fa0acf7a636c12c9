// A "host" that is this machine: commands run under dash (Debian's /bin/sh), the journal's folder
// moved into a temporary folder, so the journal's and the undo's real shell runs on real files.
import { spawnSync } from 'node:child_process';
import { GENERATIONS_DIR } from '../../src/journal/scripts.ts';
import type { Connection } from '../../src/transport/ssh.ts';

/**
 * A connection whose commands run on this machine under dash, the journal's folder moved to
 * `generations`: in the commands, and back in their output (a fact section is named by its path).
 */
export const localConnection = (generations: string): Connection => ({
  target: { name: 'local' } as Connection['target'],
  exec: async (command, stdin) => {
    const local = command.replaceAll(GENERATIONS_DIR, generations);
    const r = spawnSync('/bin/dash', ['-c', local], { input: stdin ?? '', encoding: 'utf8' });
    const back = (text: string) => text.replaceAll(generations, GENERATIONS_DIR);
    return { command, code: r.status, stdout: back(r.stdout), stderr: back(r.stderr) };
  },
  openChannel: () => Promise.reject(new Error('not here')),
  close: () => {},
});
