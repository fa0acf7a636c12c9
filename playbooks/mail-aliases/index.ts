// The mail aliases playbook's parts, for tests; the playbook itself is ../mail-aliases.ts.
export { mailAliasesSettingsSchema, targetProblem, type MailAliasesSettings, type MailAliasesSettingsInput } from './settings.ts';
export {
  editAliases,
  parseAliases,
  splitLines,
  splitTargets,
  renderAlias,
  rhsMatches,
  duplicateEntries,
  aliasEdits,
  NEW_FILE_HEADER,
  type AliasEdits,
  type Block,
} from './edit.ts';
export { ALIASES, newaliasesCommand, lookupScript, parseLookups, verifyAliases } from './host.ts';
