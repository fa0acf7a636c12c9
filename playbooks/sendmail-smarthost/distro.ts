// Which sendmail layout a host has, from its facts: Debian's or RHEL's (and the release, for the
// paths and defaults that changed between releases). Its own file: the probe and the host checks
// both need it, and host.ts imports the probe.
import type { HostFacts } from 'mailprov';

export function distroOf(facts: HostFacts): { family: 'debian' | 'rhel'; major: number } {
  return { family: facts.os.family === 'rhel' ? 'rhel' : 'debian', major: Number.isNaN(facts.os.major) ? 0 : facts.os.major };
}
