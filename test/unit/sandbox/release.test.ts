// Debian releases of the sandbox: 13 by default, 12 on request, per host in a mixed fleet; one base
// per release; hosts of a state written before releases are Debian 12.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { archiveUri, basePath, DEFAULT_RELEASE, recipeHash } from '../../../src/sandbox/base.ts';
import { hostLabel, hostRelease, sandboxUp, type SandboxHost } from '../../../src/sandbox/index.ts';

const host = (over: Partial<SandboxHost> = {}): SandboxHost => ({
  name: 'relay1',
  fqdn: 'relay1.sandbox.test',
  port: 2200,
  dir: '/x',
  kind: 'debian',
  ...over,
});

describe('sandbox releases', () => {
  it('builds Debian 13 by default, each release in a cache folder of its own', () => {
    expect(DEFAULT_RELEASE).toBe(13);
    expect(basePath('/c')).toBe(`/c/debian-trixie-${recipeHash(13)}/rootfs`);
    expect(basePath('/c', 12)).toBe(`/c/debian-bookworm-${recipeHash(12)}/rootfs`);
    expect(recipeHash(12)).not.toBe(recipeHash(13));
  });

  it('reads a host of an older state as Debian 12, and labels hosts by release', () => {
    const old = host();
    delete (old as Partial<SandboxHost>).release;
    expect([hostRelease(old), hostLabel(old)]).toEqual([12, 'debian 12']);
    expect(hostLabel(host({ release: 13 }))).toBe('debian 13');
    expect([hostRelease(host({ kind: 'centos' })), hostLabel(host({ kind: 'centos' }))]).toEqual([undefined, 'centos']);
  });

  it('refuses a release for a host the sandbox does not have, before anything starts', async () => {
    const up = sandboxUp({ dir: '/nonexistent/never-made', count: 1, centos: 1, releases: { relay2: 12 } });
    await expect(up).rejects.toThrow(SandboxError);
    await expect(sandboxUp({ dir: '/nonexistent/never-made', count: 1, centos: 1, releases: { centos1: 12 } })).rejects.toThrow(
      "releases: centos1 is not one of the sandbox's Debian hosts (relay1 to relay1)",
    );
  });
});

describe("the archive a release other than the machine's own is fetched from", () => {
  it("is the machine's own main archive, from deb822 or one-line sources, never the security one", () => {
    const deb822 =
      'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n';
    expect(archiveUri(deb822)).toBe('http://mirror.example/debian');
    expect(archiveUri('deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main\n')).toBe('http://mirror.example/debian');
    expect(archiveUri('# nothing\n')).toBeUndefined();
  });
});
