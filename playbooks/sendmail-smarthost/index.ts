// The sendmail playbook's parts, for tests and the benchmark; the playbook itself is ../sendmail-smarthost.ts.
export { sendmailSettingsSchema, type SendmailSettings, type SendmailSettingsInput, type Distro } from './settings.ts';
export {
  renderMc,
  renderAuthinfo,
  renderAccess,
  renderGenericsTable,
  maskAuthinfo,
  maskAuthinfoLines,
  distroPaths,
  GENERICS_TABLE,
  PRIVACY_FLAGS,
} from './render.ts';
export {
  lintMc,
  lintMcForDistro,
  lintSettings,
  lintSettingsBeforeConnecting,
  lintSettingsForHost,
  type LintContext,
} from './lint.ts';
export { m4MacroWords } from './m4.ts';
export { lintRelayFeatures, mcFeatures, RELAY_WIDENING_FEATURES, RELAY_WIDENING_NAMES } from './relay-features.ts';
export { lintKnobs, closestName, RESERVED_DEFINES, RESERVED_FEATURES } from './knobs.ts';
export { KNOWN_DEFINES, KNOWN_FEATURES } from './cf-names.ts';
export { distroOf } from './distro.ts';
export { validateMcCommand, makeCommand, makemapCommand, verifyRelay, transcriptEvidence, MAIL_DIR } from './host.ts';
export {
  checkNotOpenRelay,
  relayProbes,
  relayTrickProbes,
  relayTricks,
  allRelayProbes,
  relayProbeScript,
  parseRelayProbes,
  judgeRelayProbes,
  parseRelayNet,
  isPrivateNet,
} from './open-relay.ts';
