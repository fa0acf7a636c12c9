export * from './types.ts';
export { file, absentFile, writtenByMailprov, atomicWriteCommand, type FileOptions, type AbsentFileOptions } from './file.ts';
export { packages, installCommand, removeCommand, type PackagesOptions } from './packages.ts';
export {
  firewallRule,
  insertPosition,
  persistAddCommand,
  persistRemoveCommand,
  defaultPersistFile,
  firewallRuleId,
  markedSpec,
  assertRuleSpec,
  RULE_COMMENT,
  type Family,
  type FirewallRuleOptions,
} from './firewall.ts';
export { command, type CommandOptions } from './command.ts';
export { service, serviceCommand, type ServiceOptions } from './service.ts';
export { fileId, commandId, serviceId, packagesId, shortName } from './ids.ts';
export { undoHandlerFor } from './undo.ts';
export { lineEntriesRecord, lineEntriesCommand, lineEntriesInput, lineEntriesUndo, type LineEntriesRecord } from './line-entries.ts';
