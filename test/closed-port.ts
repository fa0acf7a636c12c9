// TCP ports nothing listens on, for tests of unreachable hosts. Port 1 (or any fixed number) may be
// open on the machine that runs the tests; a port this process just bound and closed is not, unless
// something takes it in the moment between, which the OS makes unlikely by handing out ports in turn.
import { createServer, type Server } from 'node:net';

/** `count` distinct ports on `host`, each bound by this process and closed again before returning. */
export async function closedPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  // all bound at once, so the OS cannot hand the same port out twice
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(0, host, ok);
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  }
}

export async function closedPort(host = '127.0.0.1'): Promise<number> {
  return (await closedPorts(1, host))[0];
}
