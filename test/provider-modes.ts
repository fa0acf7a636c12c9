// Which provider each of the stand-in smart host's provider modes plays, and which of that
// provider's decoders must read its reply: shared by the unit and the integration tests.
import type { ProviderSetting } from '../playbooks/sendmail-smarthost/providers.ts';
import type { ProviderReplyMode } from '../src/sandbox/smarthost-modes.ts';

const CONNECTOR: ProviderSetting = { name: 'microsoft-365-connector', tenant: 'contoso-com' };
const SES: ProviderSetting = { name: 'ses', region: 'eu-west-1' };

/** Each mode, the provider whose reply it plays, and the decoder that reads it. */
export const MODE_DECODES: Record<ProviderReplyMode, [ProviderSetting, string]> = {
  'gmail-app-password': ['gmail', 'google-app-password'],
  'gmail-bad-credentials': ['gmail', 'google-credentials'],
  'gmail-daily-quota': ['gmail', 'google-daily-quota'],
  'workspace-relay-denied': ['google-workspace-relay', 'workspace-relay-denied'],
  'm365-auth-disabled': ['microsoft-365', 'm365-smtp-auth-disabled'],
  'm365-auth-unsuccessful': ['microsoft-365', 'm365-auth-unsuccessful'],
  'm365-tls12-required': ['microsoft-365', 'm365-tls12-required'],
  'm365-send-as-denied': ['microsoft-365', 'm365-send-as-denied'],
  'm365-connector-not-attributed': [CONNECTOR, 'm365-connector-not-attributed'],
  'm365-connector-unable-to-relay': [CONNECTOR, 'm365-connector-unable-to-relay'],
  'ses-not-verified': [SES, 'ses-not-verified'],
  'ses-throttled': [SES, 'ses-throttled'],
  'ses-bad-credentials': [SES, 'ses-credentials'],
  'sendgrid-bad-credentials': ['sendgrid', 'sendgrid-credentials'],
  'sendgrid-sender-identity': ['sendgrid', 'sendgrid-sender-identity'],
  'sendgrid-credits': ['sendgrid', 'sendgrid-credits'],
  'mailgun-bad-credentials': ['mailgun', 'mailgun-credentials'],
  'mailgun-sandbox-recipient': ['mailgun', 'mailgun-sandbox-recipient'],
  'postmark-bad-credentials': ['postmark', 'postmark-credentials'],
  'postmark-sender-signature': ['postmark', 'postmark-sender-signature'],
};
