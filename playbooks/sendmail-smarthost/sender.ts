// After an apply that configures sender rewriting: what sendmail's own rulesets make of a local
// user's address on its way to the smart host (`sendmail -bt`, /try relay), compared with what the
// settings say. Mail submitted on the host is qualified with sendmail's canonical name $j, which
// can differ from what `hostname -f` said: then the genericstable silently stops applying.
import { OperationError, type VerifyContext } from 'mailprov';
import type { SendmailSettings } from './settings.ts';

const SENDMAIL = '/usr/sbin/sendmail';

type SenderSettings = Pick<SendmailSettings, 'masquerade' | 'genericsTable' | 'genericsDomains' | 'features'>;

/** The local users to check: the genericsTable's plain user keys, else root when masquerading. */
export function usersToCheck(settings: SenderSettings): string[] {
  const users = Object.keys(settings.genericsTable ?? {}).filter((k) => !k.includes('@'));
  return users.length ? users : settings.masquerade ? ['root'] : [];
}

/**
 * The header sender `user@j` should leave as, or undefined when the settings leave it alone or say
 * too little to predict it (a masquerade limited to other domains, an exception for this host).
 */
export function expectedSender(settings: SenderSettings, user: string, j: string): string | undefined {
  const host = j.toLowerCase();
  // the default GENERICS_DOMAIN is meant to be this host: a mismatch with $j is what this catches
  const genericsApply = !settings.genericsDomains || settings.genericsDomains.some((d) => d.toLowerCase() === host);
  const generic = genericsApply ? settings.genericsTable?.[user] : undefined;
  if (generic) return generic;
  const m = settings.masquerade;
  const limited = settings.features.some((f) => f.name === 'limited_masquerade');
  if (!m || limited || m.exceptions.some((e) => e.toLowerCase() === host)) return undefined;
  return `${user}@${m.as}`;
}

/** The addresses of "Rcode = 0, addr = ..." lines of a -bt session, in order. */
export function triedAddresses(output: string): string[] {
  return [...output.matchAll(/^Rcode = \d+, addr = (.*)$/gm)].map((m) => m[1].trim());
}

/** The envelope is rewritten only with FEATURE(masquerade_envelope) (see renderMc). */
const envelopeRewritten = (s: SenderSettings) => (s.masquerade ? s.masquerade.envelope : s.genericsTable !== undefined);

export async function verifySenderRewriting(ctx: VerifyContext, settings: SenderSettings): Promise<void> {
  const users = usersToCheck(settings);
  if (!users.length) return;
  const j = /^> (\S+)$/m.exec((await ctx.exec(`echo '$j' | ${SENDMAIL} -bt`)).stdout)?.[1];
  if (!j) throw new OperationError('verification failed: sendmail -bt did not tell its canonical host name ($j)');
  const envelope = envelopeRewritten(settings);
  for (const user of users) {
    const expected = expectedSender(settings, user, j);
    if (!expected) continue;
    const from = `${user}@${j}`;
    const script = `/tryflags HS\n/try relay ${from}\n${envelope ? `/tryflags ES\n/try relay ${from}\n` : ''}`;
    const r = await ctx.exec(`${SENDMAIL} -bt`, script);
    const [header, env] = triedAddresses(r.stdout);
    const wrong = [
      header !== expected && `header From ${header ?? '(none)'}`,
      envelope && env !== expected && `envelope ${env ?? '(none)'}`,
    ];
    const problems = wrong.filter((w): w is string => typeof w === 'string');
    if (problems.length) {
      throw new OperationError(
        `verification failed: mail from ${from} (sendmail's name for this host is ${j}) leaves as ${problems.join(', ')}, not ${expected}` +
          (settings.genericsTable?.[user] ? `; the genericsTable applies only to domains in genericsDomains (add ${j})` : ''),
        r.stdout
          .split('\n')
          .filter((l) => /^(Trying|Rcode)/.test(l))
          .map((l) => `  ${l}`),
      );
    }
    ctx.log(`mail from ${from} leaves as ${expected} (${envelope ? 'envelope and header' : 'header; envelope unchanged'})`);
  }
}
