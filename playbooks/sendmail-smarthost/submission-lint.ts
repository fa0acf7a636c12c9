// Lint of the submission settings, before any host is reached: every password readable (a secret
// that cannot be read is an error `force` never passes), no password saslpasswd2 could not take
// whole on stdin (it reads one line), and the certificate settings (submission-cert.ts).
import type { Finding } from 'mailprov';
import type { SendmailSettings } from './settings.ts';
import { lintSubmissionTls } from './submission-cert.ts';

/** What submission writes into the mc itself: a second define of one would be the one sendmail keeps. */
export const SUBMISSION_DEFINES = ['confAUTH_OPTIONS', 'confAUTH_REALM', 'confSERVER_CERT', 'confSERVER_KEY', 'confRECEIVED_HEADER'];

export function lintSubmission(settings: Pick<SendmailSettings, 'submission'> & Partial<Pick<SendmailSettings, 'defines'>>): Finding[] {
  const sub = settings.submission;
  if (!sub) return [];
  const findings: Finding[] = [];
  for (const name of SUBMISSION_DEFINES.filter((n) => settings.defines && n in settings.defines))
    findings.push({
      level: 'error',
      code: 'reserved-define',
      message: `defines: ${name} cannot be set here with submission: mailprov sets it (submission.tls, submission.realm, AUTH only after STARTTLS)`,
    });
  // 'pam': the host's own users, no password of the inventory's
  for (const [user, password] of sub.users === 'pam' ? [] : Object.entries(sub.users)) {
    let value: string;
    try {
      value = password.reveal();
    } catch (err) {
      findings.push({ level: 'error', code: 'secret-missing', message: `submission user ${user}: ${(err as Error).message}` });
      continue;
    }
    if (/[\r\n\0]/.test(value))
      findings.push({
        level: 'error',
        code: 'submission-password',
        message: `submission user ${user}: the password holds a line break or NUL, which saslpasswd2 cannot read from stdin`,
      });
  }
  findings.push(...lintSubmissionTls(sub.tls));
  return findings;
}
