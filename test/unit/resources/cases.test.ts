// Table-driven resource tests, as pyinfra's tests/operations/<op>/*.json: each file under
// cases/<kind>/ is one case, {description, options, facts, context?, notifiedBy?, expected}. The
// resource is built from the options, planned against the facts (planNotified when notifiedBy is
// given), and the result must match `expected`: with `steps`, a change (action, summary, reason,
// steps, undo, as far as given; arrays whole); without, no change and its reason. A step may give
// `commandIncludes` (lines its command must contain) instead of the whole command, for the long
// package-manager scripts that packages.test.ts covers line by line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileFact, OsFacts } from '../../../src/facts/types.ts';
import { command, type CommandOptions } from '../../../src/resources/command.ts';
import { absentFile, file, type AbsentFileOptions, type FileOptions } from '../../../src/resources/file.ts';
import { packages, type PackagesOptions } from '../../../src/resources/packages.ts';
import { service, type ServiceOptions } from '../../../src/resources/service.ts';
import { isChange, type Change, type NoChange, type PlanContext, type Resource, type Step } from '../../../src/resources/types.ts';
import { centosOs, debianOs, fileFact, hostFacts } from '../fixtures.ts';

/** The resource kinds a case directory may name, each built from a case's JSON options. */
const KINDS: Record<string, (options: never) => Resource> = {
  packages: (o: PackagesOptions) => packages(o),
  service: (o: ServiceOptions) => service(o),
  command: (o: CommandOptions) => command(o),
  file: (o: FileOptions) => file(o),
  'absent-file': (o: AbsentFileOptions) => absentFile(o),
};

const OSES: Record<string, OsFacts> = {
  debian: debianOs,
  'debian-systemd': { ...debianOs, serviceManager: 'systemd' },
  centos6: centosOs(6),
  centos7: centosOs(7),
  centos8: centosOs(8),
};

/** A file as a case gives it: its text (and owner, group, mode), or another type. */
type CaseFile = { content: string; owner?: string; group?: string; mode?: string } | { type: 'directory' | 'symlink' };

interface Case {
  description: string;
  options: unknown;
  facts?: {
    os?: keyof typeof OSES;
    files?: Record<string, CaseFile>;
    packages?: Record<string, boolean>;
    services?: Record<string, boolean>;
    tests?: Record<string, number>;
    extra?: Record<string, unknown>;
  };
  context?: { changed?: string[]; mode?: 'apply' | 'rollback' };
  notifiedBy?: string[];
  expected: (Omit<Partial<Change>, 'steps'> & { steps: ExpectedStep[] }) | { reason: string };
}

type ExpectedStep = Partial<Step> & { commandIncludes?: string[] };

function toFileFact(f: CaseFile): FileFact {
  if ('type' in f) return { exists: true, type: f.type, owner: 'root', group: 'root', mode: '0755', size: 0, sha256: '' };
  return fileFact(f.content, f.owner, f.group, f.mode);
}

function plan(kind: string, c: Case): Change | NoChange {
  const build = KINDS[kind];
  if (!build) throw new Error(`cases/${kind}: no such resource kind (known: ${Object.keys(KINDS).join(', ')})`);
  const resource = build(c.options as never);
  const { os, files, ...rest } = c.facts ?? {};
  const facts = hostFacts({
    ...rest,
    ...(os ? { os: OSES[os] } : {}),
    ...(files ? { files: Object.fromEntries(Object.entries(files).map(([p, f]) => [p, toFileFact(f)])) } : {}),
  });
  const ctx: PlanContext = { changed: new Set(c.context?.changed ?? []), ...(c.context?.mode ? { mode: c.context.mode } : {}) };
  if (c.notifiedBy) {
    if (!resource.planNotified) throw new Error(`${resource.id} is no handler: notifiedBy means nothing`);
    return resource.planNotified(facts, c.notifiedBy, ctx);
  }
  return resource.plan(facts, ctx);
}

const root = join(import.meta.dirname, 'cases');

for (const kind of readdirSync(root).sort()) {
  describe(`${kind} (cases/${kind})`, () => {
    for (const name of readdirSync(join(root, kind))
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const c = JSON.parse(readFileSync(join(root, kind, name), 'utf8')) as Case;
      it(`${name}: ${c.description}`, () => {
        const result = plan(kind, c);
        if ('steps' in c.expected) {
          if (!isChange(result)) throw new Error(`expected a change, got none: ${result.reason}`);
          const steps = c.expected.steps.map(({ commandIncludes, ...step }) => step);
          expect(result).toMatchObject({ ...c.expected, steps });
          for (const [i, step] of c.expected.steps.entries()) {
            for (const line of step.commandIncludes ?? []) expect(result.steps[i].command).toContain(line);
          }
        } else {
          expect(isChange(result), 'expected no change').toBe(false);
          expect(result.reason).toBe(c.expected.reason);
        }
      });
    }
  });
}
