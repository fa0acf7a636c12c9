// The byte relay that tcpFromHost runs on a host, run here under the same bash against local ports:
// it must carry bytes both ways, say when it is connected, and let bash's reason through when not.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyConnectFailure, relayCommand } from '../../../src/transport/tcp-from-host.ts';

/** Runs a command under sh with a go line on stdin, as tcpFromHost gives it. */
function sh(command: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end('\n');
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

describe('relayCommand', () => {
  it('carries bytes both ways once connected, and says so on stderr', async () => {
    const server = net.createServer((s) => s.once('data', (d) => s.end(`echo:${d}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const child = spawn('/bin/sh', ['-c', relayCommand('127.0.0.1', port, 10)]);
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.stdin.end('\nhello');
      await new Promise((r) => child.once('close', r));
      expect(out).toBe('echo:hello');
      expect(err).toContain('mailprov-tcp-connected');
    } finally {
      server.close();
    }
  });

  it('quotes a hostile host name as one word', async () => {
    const r = await sh(relayCommand("x'; touch /tmp/mailprov-pwned; '", 1, 5));
    // bash looked the name up as data (and failed): nothing ran, nothing connected
    expect(r.code).toBe(111);
    expect(r.stderr).not.toContain('mailprov-tcp-connected');
    expect(existsSync('/tmp/mailprov-pwned')).toBe(false);
  });

  it('reports a closed port as refused', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await sh(relayCommand('127.0.0.1', port, 5));
    expect(r.code).not.toBe(0);
    expect(classifyConnectFailure(r.stderr)).toBe('refused');
  });

  it('classifies what bash says', () => {
    expect(classifyConnectFailure('bash: line 1: nosuch.example: Name or service not known')).toBe('dns');
    expect(classifyConnectFailure('bash: connect: Network is unreachable')).toBe('unreachable');
    expect(classifyConnectFailure('bash: connect: Connection timed out')).toBe('timed-out');
  });
});
