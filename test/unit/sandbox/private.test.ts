// Private sandbox hosts: a layout that cannot work is refused before anything starts, and each
// private host is named for an inventory through the shortest chain of hosts that reach it.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { sandboxAddress, sandboxJump, sandboxUp, type SandboxHost, type SandboxState } from '../../../src/sandbox/index.ts';

const host = (name: string, reachableFrom?: string[], port = 2200): SandboxHost => ({
  name,
  fqdn: `${name}.sandbox.test`,
  port: reachableFrom ? 22 : port,
  dir: `/x/${name}`,
  kind: 'debian',
  ...(reachableFrom ? { reachableFrom, lanAddress: '192.168.77.9' } : {}),
});

describe('private sandbox hosts', () => {
  it('reach a private host through the nearest host that reaches it', () => {
    const state = {
      hosts: [
        host('relay1', undefined, 2201),
        host('relay2', ['relay1']),
        host('relay3', ['relay4', 'relay2']),
        host('relay4', ['relay3']),
      ],
    } as SandboxState;
    const [r1, r2, r3, r4] = state.hosts;
    expect(sandboxAddress(state, r1)).toEqual({ address: '127.0.0.1', port: 2201 });
    expect(sandboxAddress(state, r2)).toEqual({ address: 'relay2.sandbox.test', port: 22, jump: 'root@127.0.0.1:2201' });
    // relay4 reaches relay3 too, but is farther: the chain goes through relay2
    expect(sandboxJump(state, r3)).toEqual(['root@127.0.0.1:2201', 'root@relay2.sandbox.test']);
    expect(sandboxJump(state, r4)).toEqual(['root@127.0.0.1:2201', 'root@relay2.sandbox.test', 'root@relay3.sandbox.test']);
  });

  it('refuses a layout that cannot work before anything starts', async () => {
    const up = (priv: Record<string, string[]>) => sandboxUp({ dir: '/nonexistent/never-made', count: 3, private: priv });
    await expect(up({ relay9: ['relay1'] })).rejects.toThrow(
      new SandboxError("private: relay9 is not one of the sandbox's hosts (relay1, relay2, relay3)"),
    );
    await expect(up({ relay2: [] })).rejects.toThrow('private: relay2 must be reachable from at least one host');
    await expect(up({ relay2: ['relay2'] })).rejects.toThrow('private: relay2 cannot be reached from relay2');
    await expect(up({ relay2: ['relay3'], relay3: ['relay2'] })).rejects.toThrow(
      'private: relay2, relay3 cannot be reached from any host with a port here',
    );
  });
});
