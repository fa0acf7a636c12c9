// The sandbox LAN's addressing: every host an address of the office network below the office
// client's, an interface name the kernel takes, and the clients named in the hosts' /etc/hosts.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { LAN_CLIENTS, LAN_MAX_HOSTS, lanClientHostLines, lanHostAddress, lanPortName, type SandboxLan } from '../../../src/sandbox/lan.ts';
import { sandboxUp } from '../../../src/sandbox/index.ts';

describe('sandbox LAN addresses', () => {
  it('gives each host its own address in the office network, clear of the clients', () => {
    const all = Array.from({ length: LAN_MAX_HOSTS }, (_, i) => lanHostAddress(i));
    expect(all[0]).toBe('192.168.77.1');
    expect(all.at(-1)).toBe('192.168.77.199');
    expect(new Set(all).size).toBe(LAN_MAX_HOSTS);
    expect(all).not.toContain(LAN_CLIENTS.office);
    expect(all).not.toContain(LAN_CLIENTS.guest);
    // the guest is on the same /16 wire, outside the office network a relay's relayFrom names
    expect(LAN_CLIENTS.guest.startsWith('192.168.77.')).toBe(false);
    expect(() => lanHostAddress(LAN_MAX_HOSTS)).toThrow(SandboxError);
    expect(() => lanHostAddress(-1)).toThrow(SandboxError);
  });

  it('names every port on the bridge within the kernel limit of 15 characters', () => {
    for (let i = 0; i < LAN_MAX_HOSTS; i++) expect(lanPortName(i).length).toBeLessThanOrEqual(15);
    expect(new Set(Array.from({ length: LAN_MAX_HOSTS }, (_, i) => lanPortName(i))).size).toBe(LAN_MAX_HOSTS);
  });

  it("names the clients in the hosts' /etc/hosts", () => {
    const p = { pid: 1, start: '1', what: 'x' };
    const lan: SandboxLan = {
      network: '192.168.0.0/16',
      office: '192.168.77',
      bridge: p,
      clients: { office: { address: LAN_CLIENTS.office, process: p }, guest: { address: LAN_CLIENTS.guest, process: p } },
    };
    expect(lanClientHostLines(lan)).toBe('192.168.77.200\toffice.lan.sandbox.test\n192.168.88.200\tguest.lan.sandbox.test\n');
  });

  it('refuses a LAN larger than the office network before anything starts', async () => {
    await expect(sandboxUp({ dir: '/nonexistent/never-made', count: LAN_MAX_HOSTS + 1, lan: true })).rejects.toThrow(
      `a sandbox LAN holds at most ${LAN_MAX_HOSTS} hosts (asked for ${LAN_MAX_HOSTS + 1})`,
    );
  });
});
