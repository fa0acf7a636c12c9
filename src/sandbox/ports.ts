// Loopback ports chosen ahead of their listener (bench/jump-cost.ts's forwarders; the sandbox's own
// forwarder binds port 0 instead, see forwarder.ts). The OS hands out a free port, but once our probe
// socket closes the port is free again, and the next host may be offered the same one before its
// forwarder has bound the first (at 200 hosts two hosts shared a port). So every port handed out
// is remembered for the life of this process and never handed out twice.
import { createServer } from 'node:net';
import { SandboxError } from '../errors.ts';

function osFreePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

const handedOut = new Set<number>();

/**
 * A port free on 127.0.0.1 now and not handed out before by this process. `offer` is where free
 * ports come from (the OS); a test passes one that offers the same port again, as the OS may.
 */
export async function freePort(taken: Set<number> = handedOut, offer: () => Promise<number> = osFreePort): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = await offer();
    if (taken.has(port)) continue;
    taken.add(port);
    return port;
  }
  throw new SandboxError('no free loopback port that was not already handed out, after 1000 tries');
}
