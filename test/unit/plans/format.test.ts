// The plan file: its seal (a digest, or an HMAC with a key), its shape, and what it may hold. The
// digests of facts and steps: scrypt for anything that may hold a secret, and what a stale plan says.
import { describe, expect, it } from 'vitest';
import { isChange, type Change } from '../../../src/resources/types.ts';
import { file } from '../../../src/resources/index.ts';
import {
  changesDiffer,
  factDigests,
  factTexts,
  matchesDigest,
  saveChange,
  sha256,
  slowDigest,
  staleFacts,
} from '../../../src/plans/digest.ts';
import { looksLikePlan, newPlanId, newSalt, type PlanBody, parsePlan, serializePlan } from '../../../src/plans/format.ts';
import { registerSecret } from '../../../src/secrets/index.ts';
import { debianOs, fileFact, hostFacts } from '../fixtures.ts';

const salt = newSalt();

function body(over: Partial<PlanBody> = {}): PlanBody {
  return {
    format: 'mailprov-plan',
    formatVersion: 1,
    id: newPlanId(),
    createdAt: '2026-12-07T00:00:00.000Z',
    mailprov: '0.1.0',
    salt,
    inventory: { file: 'inventory.ts', sha256: sha256('inventory') },
    selection: {
      limit: null,
      shard: null,
      selected: ['relay1'],
      record: { inventory: `sha256:${sha256('x')}`, limit: null, selection: ['relay1'] },
    },
    hosts: [
      {
        host: 'relay1',
        address: '127.0.0.1:22',
        os: 'Debian',
        status: 'pending',
        error: null,
        durationMs: 12,
        findings: [],
        facts: [{ key: 'file:/etc/mail/access', digest: `sha256:${sha256('a')}`, sha256: sha256('b') }],
        changes: [
          {
            resourceId: 'file:/etc/mail/access',
            action: 'update',
            summary: 'update /etc/mail/access',
            reason: 'content differs',
            details: [],
            diff: null,
            steps: [{ label: 'write /etc/mail/access', command: 'cat > /etc/mail/access', stdin: `sha256:${sha256('c')}` }],
            files: [{ path: '/etc/mail/access', sensitive: false, keepOnUndo: false }],
            undo: `sha256:${sha256('[]')}`,
            confirm: false,
          },
        ],
      },
    ],
    ...over,
  };
}

describe('plan file seal', () => {
  it('reads back what it wrote, and is told apart from an inventory by its content', () => {
    const b = body();
    const text = serializePlan(b, undefined);
    expect(looksLikePlan(text)).toBe(true);
    expect(looksLikePlan("import { defineInventory } from 'mailprov';\n")).toBe(false);
    expect(looksLikePlan('{"hosts": {}}')).toBe(false);
    const { integrity, ...rest } = parsePlan('p.json', text, undefined);
    expect(integrity.alg).toBe('sha256');
    expect(rest).toEqual(b);
  });

  it('refuses a file edited by hand: a changed command, summary or digest, or a field added', () => {
    const text = serializePlan(body(), undefined);
    const edits = [
      text.replace('cat > /etc/mail/access', 'cat > /etc/mail/access; id'),
      text.replace('"update /etc/mail/access"', '"nothing to see"'),
      text.replace(`sha256:${sha256('c')}`, `sha256:${sha256('d')}`),
    ];
    for (const edited of edits) {
      expect(edited).not.toBe(text);
      expect(() => parsePlan('p.json', edited, undefined)).toThrow(
        /p\.json: the plan file was changed after it was written \(its digest does not match\)/,
      );
    }
    const added = JSON.parse(text);
    added.hosts[0].changes[0].steps.push({ label: 'x', command: 'rm -rf /', stdin: null });
    expect(() => parsePlan('p.json', JSON.stringify(added), undefined)).toThrow(/changed after it was written/);
    const extra = JSON.parse(text);
    extra.hosts[0].extra = 1;
    expect(() => parsePlan('p.json', JSON.stringify(extra), undefined)).toThrow(
      /not a valid plan file \(hosts\.0: Unrecognized key: "extra"\): was it edited\?/,
    );
  });

  it('refuses what is not a plan of this format, saying what', () => {
    expect(() => parsePlan('p.json', 'not json', undefined)).toThrow(/p\.json: not a plan file \(not JSON/);
    expect(() => parsePlan('p.json', '{"hosts":[]}', undefined)).toThrow(/not a mailprov plan file/);
    expect(() => parsePlan('p.json', '{"format":"mailprov-plan","formatVersion":7}', undefined)).toThrow(
      /format 7, this mailprov reads format 1/,
    );
    const broken = JSON.parse(serializePlan(body(), undefined));
    broken.hosts[0].status = 'applied';
    expect(() => parsePlan('p.json', JSON.stringify(broken), undefined)).toThrow(/not a valid plan file \(hosts\.0\.status/);
  });

  it('with a key: an HMAC only the key makes; no key, a wrong key or an unkeyed file are refused', () => {
    const keyed = serializePlan(body(), 'the ci key');
    expect(parsePlan('p.json', keyed, 'the ci key').integrity.alg).toBe('hmac-sha256');
    expect(() => parsePlan('p.json', keyed, undefined)).toThrow(/sealed with a key \(HMAC\): set MAILPROV_PLAN_KEY/);
    expect(() => parsePlan('p.json', keyed, 'another key')).toThrow(/its HMAC does not match/);
    // someone who edits a keyed file and reseals it with a plain digest is refused where the key is set
    const { integrity: _, ...rest } = JSON.parse(keyed);
    const resealed = serializePlan({ ...rest, hosts: [] } as PlanBody, undefined);
    expect(() => parsePlan('p.json', resealed, 'the ci key')).toThrow(/sealed without a key, but MAILPROV_PLAN_KEY is set/);
  });

  it('is never written holding a secret this process read', () => {
    registerSecret('s3cret-in-a-command');
    const b = body();
    b.hosts[0].changes[0].steps[0].command = 'echo s3cret-in-a-command > /x';
    expect(() => serializePlan(b, undefined)).toThrow(/the plan would hold a secret/);
  });
});

describe('plan digests', () => {
  const authinfo = '/etc/mail/authinfo';
  const mask = (t: string) => t.replace(/"P:[^"]*"/g, '"P:********"');
  const resources = [
    file({ path: authinfo, content: 'AuthInfo:smtp "U:u" "P:new-password"\n', owner: 'root', group: 'root', mode: '0600', mask }),
    file({ path: '/etc/mail/access', content: 'Connect:127.0.0.1 RELAY\n', owner: 'root', group: 'root', mode: '0644' }),
  ];
  const facts = (access: string) =>
    hostFacts({
      os: debianOs,
      files: {
        [authinfo]: fileFact('AuthInfo:smtp "U:u" "P:old-password"\n', 'root', 'root', '0600'),
        '/etc/mail/access': fileFact(access),
      },
    });

  it('a file holding a secret gets a salted scrypt digest and no sha256; others their sha256', () => {
    const digests = factDigests(resources, facts('old\n'), salt);
    const auth = digests.find((d) => d.key === `file:${authinfo}`)!;
    expect(auth.digest).toMatch(/^scrypt:[0-9a-f]{64}$/);
    expect(auth).not.toHaveProperty('sha256');
    expect(JSON.stringify(digests)).not.toContain(sha256('AuthInfo:smtp "U:u" "P:old-password"\n'));
    const access = digests.find((d) => d.key === 'file:/etc/mail/access')!;
    expect(access.sha256).toBe(sha256('old\n'));
    // another salt, another digest: nothing to precompute across plan files
    expect(slowDigest('x', newSalt())).not.toBe(slowDigest('x', salt));
  });

  it('names what changed since the plan, with both sha256 digests', () => {
    const saved = factDigests(resources, facts('old\n'), salt);
    const nowFacts = facts('edited by hand\n');
    const stale = staleFacts(saved, factDigests(resources, nowFacts, salt), salt, factTexts(resources, nowFacts));
    expect(stale).toEqual([
      `/etc/mail/access changed since the plan: sha256 ${sha256('old\n').slice(0, 16)} -> ${sha256('edited by hand\n').slice(0, 16)}`,
    ]);
    const same = facts('old\n');
    expect(staleFacts(saved, factDigests(resources, same, salt), salt, factTexts(resources, same))).toEqual([]);
  });

  it('names the packages whose state changed since the plan by their names', () => {
    const digest = (v: string) => `sha256:${sha256(v)}`;
    const transaction = 'package-transaction:{"apt":["sendmail","sendmail-cf"],"rpm":["sendmail","cyrus-sasl-plain"],"recommends":false}';
    const installed = 'packages:["sendmail","sendmail-cf"]';
    const saved = [transaction, installed].map((key) => ({ key, digest: digest('before') }));
    const now = [transaction, installed].map((key) => ({ key, digest: digest('after') }));
    const nowValues = new Map([transaction, installed].map((key) => [key, 'after']));
    expect(staleFacts(saved, now, salt, nowValues)).toEqual([
      'the packages sendmail, sendmail-cf (rpm: sendmail, cyrus-sasl-plain) changed since the plan',
      'the packages sendmail, sendmail-cf changed since the plan',
    ]);
  });

  it('names a service by its name, whether its pid files are part of the fact or not', () => {
    const digest = (v: string) => `sha256:${sha256(v)}`;
    const keys = ['service:saslauthd', 'service:{"name":"sendmail","pidFiles":["/run/sendmail/mta/sendmail.pid"]}'];
    const nowValues = new Map(keys.map((key) => [key, 'after']));
    expect(
      staleFacts(
        keys.map((key) => ({ key, digest: digest('before') })),
        keys.map((key) => ({ key, digest: digest('after') })),
        salt,
        nowValues,
      ),
    ).toEqual(['the service saslauthd changed since the plan', 'the service sendmail changed since the plan']);
  });

  it('content is compared by digest: the same steps pass, another password is a difference', () => {
    const plan = (content: string): Change => {
      const r = file({ path: authinfo, content, owner: 'root', group: 'root', mode: '0600', mask });
      const c = r.plan(facts('x'), { changed: new Set() });
      if (!isChange(c)) throw new Error('expected a change');
      return c;
    };
    const saved = saveChange(plan('AuthInfo:smtp "U:u" "P:one"\n'), salt);
    expect(saved.steps[0].stdin).toMatch(/^scrypt:/);
    expect(matchesDigest(saved.steps[0].stdin!, 'AuthInfo:smtp "U:u" "P:one"\n', salt)).toBe(true);
    expect(changesDiffer([saved], [plan('AuthInfo:smtp "U:u" "P:one"\n')], salt)).toEqual([]);
    expect(changesDiffer([saved], [plan('AuthInfo:smtp "U:u" "P:two"\n')], salt)).toEqual([
      `${authinfo}: the content it would write differs from the plan's (the inventory or a secret changed)`,
    ]);
    expect(changesDiffer([saved], [], salt)).toEqual([`${saved.summary}: planned, but no longer needed`]);
  });
});

describe('apply PLANFILE exit code', () => {
  it('0 applied, 4 a host refused (or skipped by --all-or-nothing), 1 a failure wins', async () => {
    const { applyPlanExitCode } = await import('../../../src/cli/plan-file.ts');
    expect(applyPlanExitCode([{ status: 'changed' }, { status: 'unchanged' }])).toBe(0);
    expect(applyPlanExitCode([{ status: 'changed' }, { status: 'skipped', refused: ['stale'] }])).toBe(4);
    expect(applyPlanExitCode([{ status: 'skipped' }, { status: 'skipped', refused: ['stale'] }])).toBe(4);
    expect(applyPlanExitCode([{ status: 'failed' }, { status: 'skipped', refused: ['stale'] }])).toBe(1);
    expect(applyPlanExitCode([{ status: 'rolled-back' }])).toBe(1);
  });
});
