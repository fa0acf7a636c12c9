// A minimal line-level SMTP client for tests that need exact commands (nodemailer cannot
// send sendmail's MAIL FROM parameters, or AUTH before STARTTLS).
import net from 'node:net';
import tls from 'node:tls';

export class RawSmtp {
  private socket: net.Socket;
  private buffer = '';
  private wake: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Connects (unix socket path or TCP port on 127.0.0.1) and reads the greeting. */
  static async connect(target: string | number): Promise<{ client: RawSmtp; greeting: string }> {
    const socket = typeof target === 'string' ? net.connect(target) : net.connect(target, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawSmtp(socket);
    return { client, greeting: await client.reply() };
  }

  /** Sends one line and returns the complete (possibly multi-line) reply. */
  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake trusting only `ca`. Returns the 220 reply. */
  async startTls(ca: string, servername: string): Promise<string> {
    const answer = await this.command('STARTTLS');
    if (!answer.startsWith('220')) return answer;
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, ca, servername });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return answer;
  }

  /** Reads replies until a final line (`NNN ` rather than `NNN-`). */
  async reply(): Promise<string> {
    for (;;) {
      const end = finalLineEnd(this.buffer);
      if (end !== -1) {
        const reply = this.buffer.slice(0, end).trimEnd();
        this.buffer = this.buffer.slice(end);
        return reply;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.notify();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.notify();
    });
    socket.on('close', () => {
      this.failure ??= new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

function finalLineEnd(buffer: string): number {
  const match = /^\d{3}(?: [^\r\n]*)?\r\n/m.exec(buffer);
  return match ? match.index + match[0].length : -1;
}

export function plainToken(user: string, password: string): string {
  return Buffer.from(`\0${user}\0${password}`).toString('base64');
}

export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}
