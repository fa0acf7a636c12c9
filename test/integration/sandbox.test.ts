// The sandbox itself: real hosts with their own namespaces, SSH through 127.0.0.1 only, and a
// `down` that leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDown, sandboxPids, sandboxStatus, sandboxUp, type SandboxState } from '../../src/sandbox/index.ts';
import { connect, type Connection } from '../../src/transport/ssh.ts';
import { startSandbox, stopSandbox } from './helpers.ts';

let state: SandboxState | undefined;

function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}
const conns: Connection[] = [];

async function ssh(i: number): Promise<Connection> {
  const h = state!.hosts[i];
  const c = await connect({
    name: h.name, address: '127.0.0.1', port: h.port, user: 'root', privateKey: state!.privateKey,
    knownHosts: state!.knownHosts, hostKeyPolicy: 'strict', sudo: false, connectTimeoutMs: 5000,
  });
  conns.push(c);
  return c;
}

beforeAll(async () => {
  state = await startSandbox(2);
});

afterAll(async () => {
  conns.forEach((c) => c.close());
  await stopSandbox(state);
});

describe('sandbox hosts', () => {
  it('are reached over SSH on 127.0.0.1 with their own host name (with a domain)', async () => {
    const [a, b] = [await ssh(0), await ssh(1)];
    expect((await a.exec('hostname -f')).stdout.trim()).toBe('relay1.sandbox.test');
    expect((await b.exec('hostname')).stdout.trim()).toBe('relay2.sandbox.test');
    expect((await a.exec('. /etc/os-release; echo $ID $VERSION_ID')).stdout.trim()).toBe('debian 12');
  });

  it('have their own PID namespace and do not have sendmail preinstalled', async () => {
    const a = await ssh(0);
    const ps = (await a.exec('ps -eo pid=,comm=')).stdout;
    expect(ps).toMatch(/^\s*1 tini$/m);
    expect(ps.split('\n').length).toBeLessThan(20);
    expect((await a.exec('command -v sendmail || echo none')).stdout.trim()).toBe('none');
    // but the local repository has it
    expect((await a.exec('apt-cache policy sendmail | grep Candidate')).stdout).toMatch(/Candidate: 8\./);
  });

  it('have their own firewall tables, isolated from each other and from this machine', async () => {
    const [a, b] = [await ssh(0), await ssh(1)];
    const rule = '-A INPUT -p tcp -m tcp --dport 4242 -j ACCEPT';
    expect((await a.exec(`iptables ${rule.replace('-A', '-A')}`)).code).toBe(0);
    expect((await a.exec('iptables -S INPUT')).stdout).toContain(rule);
    expect((await b.exec('iptables -S INPUT')).stdout).not.toContain('4242');
    const mine = execFileSync('sh', ['-c', 'iptables -S INPUT 2>/dev/null || true']).toString();
    expect(mine).not.toContain('4242');
  });

  it('have only a loopback network, and answer name lookups at once', async () => {
    const a = await ssh(0);
    const links = (await a.exec('ip -o link show')).stdout.trim().split('\n');
    expect(links).toHaveLength(1);
    expect(links[0]).toContain('lo:');
    const t0 = Date.now();
    const r = await a.exec('getent hosts smtp.sandbox.test; getent hosts nothing.invalid; echo rc=$?');
    expect(r.stdout).toContain('127.0.0.2');
    expect(r.stdout).toContain('rc=2');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('status reports every host up', async () => {
    const s = await sandboxStatus(state!.dir);
    expect(s.hosts.map((h) => h.up)).toEqual([true, true]);
  });
});

describe('sandbox lifecycle', () => {
  it('down removes every process and mount, also after a crashed up; up works again', async () => {
    const dir = `${state!.dir}-cycle`;
    const s1 = await sandboxUp({ dir, count: 3 });
    expect(sandboxPids(dir).length).toBeGreaterThan(3);
    // simulate a crash: kill only the forwarders; the hosts' namespaces are left running
    for (const pid of sandboxPids(dir)) {
      // a listed process may exit before we read it (a forwarder's child closing its connection)
      const cmd = cmdlineOf(pid);
      if (cmd?.startsWith('socat\0TCP-LISTEN')) process.kill(pid, 'SIGKILL');
    }
    const s2 = await sandboxUp({ dir, count: 3 }); // notices the broken sandbox and starts afresh
    expect(s2.hosts.map((h) => h.name)).toEqual(s1.hosts.map((h) => h.name));
    expect((await sandboxStatus(dir)).hosts.every((h) => h.up)).toBe(true);
    await sandboxDown({ dir });
    expect(sandboxPids(dir)).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(dir);
    expect(existsSync(dir)).toBe(false);
  });
});
