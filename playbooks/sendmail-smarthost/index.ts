// The sendmail playbook's parts, for tests and the benchmark; the playbook itself is ../sendmail-smarthost.ts.
export { sendmailSettingsSchema, type SendmailSettings, type SendmailSettingsInput, type Distro } from './settings.ts';
export { renderMc, renderAuthinfo, renderAccess, maskAuthinfo, distroPaths, PRIVACY_FLAGS } from './render.ts';
export { lintMc, lintSettings, type LintContext } from './lint.ts';
export { distroOf, validateMcCommand, makeCommand, makemapCommand, verifyRelay, transcriptEvidence, MAIL_DIR } from './host.ts';
export {
  checkNotOpenRelay,
  relayProbes,
  relayProbeScript,
  parseRelayProbes,
  judgeRelayProbes,
  parseRelayNet,
  isPrivateNet,
} from './open-relay.ts';
