// The submission users (issue 32): each a SASL user in mailprov's own sasldb (/etc/mail/sasldb2),
// set with saslpasswd2 reading the password on stdin, never on a command line.
//
// Passwords are compared without revealing them: sasldb keeps them in a form only SASL reads, so
// mailprov keeps beside it a record of what it set (/etc/mail/sasldb2.mailprov, root 0600): per
// user, a random salt and scrypt(password, salt). The plan hashes each password of the inventory
// with that salt; a user whose record is missing or differs gets its password set again. The
// record holds no password and is never printed.
//
// Undo: the change names both files, so the journal copies them aside (cp -a, byte for byte)
// before the first step, and a rollback puts the previous users back exactly.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { defineFact, sh, type Change, type HostFacts, type NoChange, type Resource, type Secret, type Step } from 'mailprov';
import { SUBMISSION_PATHS } from './render.ts';

export const USERS_RECORD = `${SUBMISSION_PATHS.sasldb}.mailprov`;
export const SUBMISSION_USERS_ID = 'submission-users:sendmail';

export interface SaslUsersFact {
  /** The sasldb exists. */
  exists: boolean;
  /** `user@realm` of every user in it. */
  users: string[];
  /** mailprov's record: `user@realm` -> `salt:hash` (hex). */
  record: Record<string, string>;
  /** sasldblistusers2 is missing or failed on an existing sasldb: the users cannot be known. */
  unreadable?: string;
}

const MARK = 'MAILPROV_SASLDB';

/** The users of a sasldb and mailprov's record of their passwords' hashes. */
export const saslUsersFact = defineFact<SaslUsersFact, { sasldb: string; record: string }>({
  name: 'sasl-users',
  script: ({ sasldb, record }) =>
    [
      sh`if [ -e ${sasldb} ]; then echo ${`${MARK} exists`};`,
      sh`  if command -v sasldblistusers2 >/dev/null 2>&1; then sasldblistusers2 -f ${sasldb} 2>&1 || echo ${`${MARK} failed`};`,
      sh`  else echo ${`${MARK} no-tool`}; fi`,
      'fi',
      sh`echo ${`${MARK} record`}`,
      sh`cat ${record} 2>/dev/null`,
      'true',
    ].join('\n'),
  parse: parseSaslUsers,
});

export function parseSaslUsers(text: string): SaslUsersFact {
  const out: SaslUsersFact = { exists: false, users: [], record: {} };
  let inRecord = false;
  for (const line of text.split('\n')) {
    if (line === `${MARK} exists`) out.exists = true;
    else if (line === `${MARK} failed`) out.unreadable = 'sasldblistusers2 failed on it';
    else if (line === `${MARK} no-tool`) out.unreadable = 'sasldblistusers2 is not installed';
    else if (line === `${MARK} record`) inRecord = true;
    else if (inRecord) {
      const m = /^(\S+) ([0-9a-f]+:[0-9a-f]+)$/.exec(line);
      if (m) out.record[m[1]] = m[2];
    } else {
      // "alice@relay.example: userPassword"
      const m = /^(\S+@\S+): userPassword$/.exec(line);
      if (m && !out.users.includes(m[1])) out.users.push(m[1]);
    }
  }
  return out;
}

/** `salt:scrypt(password, salt)`, hex; a new random salt unless one is given. */
export function hashPassword(password: string, salt = randomBytes(16).toString('hex')): string {
  return `${salt}:${scryptSync(password, salt, 32).toString('hex')}`;
}

/** Does the recorded `salt:hash` match this password? */
export function matchesRecord(password: string, recorded: string | undefined): boolean {
  if (!recorded) return false;
  const [salt, hash] = recorded.split(':');
  const mine = hashPassword(password, salt).split(':')[1];
  return mine.length === hash.length && timingSafeEqual(Buffer.from(mine, 'hex'), Buffer.from(hash, 'hex'));
}

export interface SubmissionUsersOptions {
  users: Record<string, Secret>;
  /** The realm, per host (its FQDN unless the settings name one). */
  realm: (facts: HostFacts) => string;
  /** The group sendmail reads the sasldb with. */
  group?: string;
}

/** The steps of one change, in order; each password goes on its step's stdin. */
export function usersSteps(
  plan: { add: string[]; change: string[]; remove: string[] },
  realm: string,
  passwords: Record<string, string>,
  record: string,
  group: string,
): Step[] {
  const db = SUBMISSION_PATHS.sasldb;
  const set = (user: string, what: string): Step => ({
    label: `${what} submission user ${user}`,
    // -p: the password is read from stdin, without a prompt; -c: create the user if need be
    command: sh`umask 027 && saslpasswd2 -p -c -f ${db} -u ${realm} ${user}`,
    stdin: passwords[user],
  });
  return [
    ...plan.add.map((u) => set(u, 'add')),
    ...plan.change.map((u) => set(u, 'set the password of')),
    ...plan.remove.map((u) => ({ label: `remove submission user ${u}`, command: sh`saslpasswd2 -d -f ${db} -u ${realm} ${u}` })),
    {
      label: `record the submission users' password hashes in ${USERS_RECORD}`,
      // root's alone: /etc/mail is setgid smmsp on Debian, so the group is said, not inherited
      command: sh`umask 077 && cat > ${`${USERS_RECORD}.tmp`} && chown root:root ${`${USERS_RECORD}.tmp`} && chmod 0600 ${`${USERS_RECORD}.tmp`} && mv -f ${`${USERS_RECORD}.tmp`} ${USERS_RECORD}`,
      stdin: record,
    },
    {
      // sendmail reads it as root, SASL's tools as the sasl group (Debian); nobody else
      label: `owner and mode of ${db}`,
      command: sh`if [ -e ${db} ]; then chown ${`root:${group}`} ${db} && chmod 0640 ${db}; fi`,
    },
  ];
}

/**
 * The submission users as one resource: users of the inventory missing from the sasldb are added,
 * those whose password is not the one recorded are set again, users of the realm it does not name
 * are removed (the sasldb is mailprov's own: sendmail's alone).
 */
export function submissionUsers(opts: SubmissionUsersOptions): Resource {
  const id = SUBMISSION_USERS_ID;
  const names = Object.keys(opts.users).sort();
  const group = opts.group ?? 'root';
  return {
    id,
    notify: [],
    handler: false,
    writes: [SUBMISSION_PATHS.sasldb, USERS_RECORD],
    facts: () => [saslUsersFact.query({ sasldb: SUBMISSION_PATHS.sasldb, record: USERS_RECORD })],
    plan(facts: HostFacts): Change | NoChange {
      const current = facts.get(saslUsersFact, { sasldb: SUBMISSION_PATHS.sasldb, record: USERS_RECORD });
      const realm = opts.realm(facts);
      const key = (u: string) => `${u}@${realm}`;
      // a sasldb mailprov cannot read yet (the tool comes with this apply): every user is set
      const present = new Set(current.unreadable ? [] : current.users);
      const passwords = Object.fromEntries(names.map((u) => [u, opts.users[u].reveal()]));
      const add = names.filter((u) => !present.has(key(u)));
      const change = names.filter((u) => present.has(key(u)) && !matchesRecord(passwords[u], current.record[key(u)]));
      const remove = [...present]
        .filter((k) => k.endsWith(`@${realm}`) && !names.includes(k.slice(0, -realm.length - 1)))
        .map((k) => k.slice(0, -realm.length - 1))
        .sort();
      // users of another realm (the realm changed): taken out too, with their own realm
      const otherRealms = [...present].filter((k) => !k.endsWith(`@${realm}`));
      if (!add.length && !change.length && !remove.length && !otherRealms.length)
        return { resourceId: id, reason: `submission users ${names.join(', ')} are up to date` };
      // the record: unchanged hashes kept (no new salt, no churn), new ones for what is set now
      const record = names
        .map((u) => `${key(u)} ${add.includes(u) || change.includes(u) ? hashPassword(passwords[u]) : current.record[key(u)]}\n`)
        .join('');
      const parts = [
        ...(add.length ? [`add ${add.join(', ')}`] : []),
        ...(change.length ? [`set the password of ${change.join(', ')} (masked)`] : []),
        ...(remove.length ? [`remove ${remove.join(', ')}`] : []),
        ...(otherRealms.length ? [`remove ${otherRealms.join(', ')} (another realm)`] : []),
      ];
      const reasons = [
        ...(add.length ? [`not in ${SUBMISSION_PATHS.sasldb}`] : []),
        ...(change.length ? ['password differs from the one mailprov recorded'] : []),
        ...(remove.length || otherRealms.length ? ['no longer in the inventory'] : []),
      ];
      const steps = usersSteps({ add, change, remove }, realm, passwords, record, group);
      const removeOther = otherRealms.map((k) => {
        const at = k.lastIndexOf('@');
        return {
          label: `remove submission user ${k}`,
          command: sh`saslpasswd2 -d -f ${SUBMISSION_PATHS.sasldb} -u ${k.slice(at + 1)} ${k.slice(0, at)}`,
        };
      });
      return {
        resourceId: id,
        action: add.length && !change.length && !remove.length && !otherRealms.length ? 'create' : 'update',
        summary: `submission users: ${parts.join('; ')}`,
        reason: reasons.join('; '),
        steps: [...removeOther, ...steps],
        files: [
          { path: SUBMISSION_PATHS.sasldb, sensitive: true },
          { path: USERS_RECORD, sensitive: true },
        ],
        undo: [],
      };
    },
  };
}
