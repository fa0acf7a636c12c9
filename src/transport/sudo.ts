// Running a command through sudo without letting the sudo password reach the command.
// `sudo -S` reads the password from stdin only when it asks for one; under a NOPASSWD rule (or a
// cached timestamp) it does not ask, and a password sent ahead would become the command's input.
// So the password is written only after sudo's prompt shows on stderr, and the command's own stdin
// only once the command has said it started: a marker it prints on stderr before anything else.
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { ConnectError } from '../errors.ts';
import { redact } from '../secrets/index.ts';

export interface SudoWords {
  /** Passed to `sudo -p`; unique, so sudo's prompt cannot be mistaken for other output. */
  prompt: string;
  /** Printed on stderr (then a newline) by the wrapped shell as its first act. */
  marker: string;
}

/** Fresh words for one command. Hex only: sudo expands %-escapes in a prompt. */
export function sudoWords(): SudoWords {
  const nonce = randomBytes(12).toString('hex');
  return { prompt: `[mailprov-sudo-${nonce}] `, marker: `mailprov-started-${nonce}` };
}

/**
 * The shell text that makes `inner` print the marker first. printf joins two halves, so the marker
 * itself is not on the command line: an error that echoes the command cannot fake a start.
 */
export function announceStart(words: SudoWords): string {
  const cut = words.marker.length >> 1;
  return `printf '%s%s\\n' '${words.marker.slice(0, cut)}' '${words.marker.slice(cut)}' >&2`;
}

export type SudoEvent =
  /** sudo asks (the first time): answer with the password and a newline. */
  | { kind: 'prompt' }
  /** sudo asks again after an answer: the password was refused. */
  | { kind: 'prompt-again' }
  /** The command runs: from now on its stdin is its own. */
  | { kind: 'started' }
  /** The command's own stderr, prompt and marker removed. */
  | { kind: 'stderr'; data: Buffer };

/**
 * Splits a sudo channel's stderr into sudo's part (prompts, messages) and the command's part.
 * Pure: feed it chunks as they come (a prompt or marker may be cut anywhere), act on the events.
 */
export class SudoStderr {
  #pending = Buffer.alloc(0);
  #started = false;
  #prompts = 0;
  /** What sudo said before the command started, prompts removed: the reason when it never starts. */
  #sudoSaid = '';
  readonly #prompt: Buffer;
  readonly #marker: Buffer;

  constructor(words: SudoWords) {
    this.#prompt = Buffer.from(words.prompt);
    this.#marker = Buffer.from(`${words.marker}\n`);
  }

  get started(): boolean {
    return this.#started;
  }

  /** How many times sudo asked for the password. */
  get prompts(): number {
    return this.#prompts;
  }

  get sudoSaid(): string {
    return this.#sudoSaid + (this.#started ? '' : this.#pending.toString('utf8'));
  }

  feed(chunk: Buffer): SudoEvent[] {
    if (this.#started) return chunk.length ? [{ kind: 'stderr', data: chunk }] : [];
    this.#pending = Buffer.concat([this.#pending, chunk]);
    const events: SudoEvent[] = [];
    for (;;) {
      const p = this.#pending.indexOf(this.#prompt);
      const m = this.#pending.indexOf(this.#marker);
      if (m !== -1 && (p === -1 || m < p)) {
        this.#sudoSaid += this.#pending.subarray(0, m).toString('utf8');
        const rest = this.#pending.subarray(m + this.#marker.length);
        this.#pending = Buffer.alloc(0);
        this.#started = true;
        events.push({ kind: 'started' });
        if (rest.length) events.push({ kind: 'stderr', data: rest });
        return events;
      }
      if (p === -1) break;
      this.#sudoSaid += this.#pending.subarray(0, p).toString('utf8');
      this.#pending = this.#pending.subarray(p + this.#prompt.length);
      this.#prompts += 1;
      events.push({ kind: this.#prompts === 1 ? 'prompt' : 'prompt-again' });
    }
    // keep only a tail that may still grow into a prompt or marker; the rest is sudo's talk
    const keep = Math.max(this.#prompt.length, this.#marker.length) - 1;
    if (this.#pending.length > keep) {
      this.#sudoSaid += this.#pending.subarray(0, this.#pending.length - keep).toString('utf8');
      this.#pending = this.#pending.subarray(this.#pending.length - keep);
    }
    return events;
  }
}

/** Why sudo did not run the command, in words a user can act on. */
export function sudoRefusal(said: string, answered: boolean, where: { user: string; host: string }): string {
  const on = `for user ${where.user} on host ${where.host}`;
  const text = said.trim();
  if (/must have a tty|requiretty/i.test(text)) {
    return `sudo refused to run without a terminal ${on}: sudoers sets requiretty for this user; remove it for ${where.user} (Defaults:${where.user} !requiretty) or connect as root`;
  }
  if (answered) return `sudo refused the password ${on}`;
  if (/password is required/i.test(text)) {
    return `sudo needs a password ${on} and none is configured (sudoPasswordEnv, or -K to be asked)`;
  }
  return `sudo did not run the command ${on}${text ? `: ${text.split('\n').slice(-3).join(' ')}` : ''}`;
}

/** One command's run through sudo: its words, the password if any, and who and where, for messages. */
export interface SudoRun {
  words: SudoWords;
  password?: string;
  user: string;
  /** address:port, for messages */
  host: string;
  /** inventory name */
  name: string;
}

/** A guard only: sudo starts in milliseconds, unless it waits on a prompt we did not recognise. */
const SUDO_START_TIMEOUT_MS = 30_000;

/**
 * Sees a channel through sudo's start: answers its prompt once with the password, fails on a second
 * prompt (a refused password) or when the command never starts, and passes the command's own stderr
 * to onStderr. Resolves when the command runs; nothing else has been written to its stdin by then.
 */
export function startThroughSudo(channel: ClientChannel, run: SudoRun, onStderr: (data: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = new SudoStderr(run.words);
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      channel.close(); // sends nothing more: no second password, no stdin
      reject(new ConnectError(run.name, redact(why)));
    };
    const timer = setTimeout(
      () =>
        fail(
          `sudo did not start the command within ${SUDO_START_TIMEOUT_MS / 1000} s for user ${run.user} on host ${run.host} (a prompt mailprov does not recognise?)`,
        ),
      SUDO_START_TIMEOUT_MS,
    );
    channel.stderr.on('data', (data: Buffer) => {
      for (const event of parser.feed(data)) {
        if (settled && event.kind !== 'stderr') return;
        switch (event.kind) {
          case 'prompt':
            if (run.password === undefined) return fail(sudoRefusal('a password is required', false, run));
            channel.write(`${run.password}\n`);
            break;
          case 'prompt-again':
            return fail(sudoRefusal(parser.sudoSaid, true, run));
          case 'started':
            settled = true;
            clearTimeout(timer);
            resolve();
            break;
          case 'stderr':
            onStderr(event.data);
        }
      }
    });
    // stderr's end, not the channel's close: that waits for stdout to be read, which the holder of
    // an openChannel does only later
    channel.stderr.once('end', () => {
      if (!parser.started) fail(sudoRefusal(parser.sudoSaid, parser.prompts > 0, run));
    });
  });
}
