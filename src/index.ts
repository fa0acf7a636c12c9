// The public face of mailprov, for inventories and playbooks: `import { ... } from 'mailprov'`.
// Everything a playbook needs comes from here, the bundled ones under playbooks/ included: they
// import nothing from src/ (test/unit/playbooks/boundary.test.ts checks it).

// Inventories: declare hosts and bind playbooks to them; load one (as the CLI does).
export {
  defineInventory,
  hostsFromIni,
  hostsFromYaml,
  loadInventory,
  type Inventory,
  type InventoryWarning,
  type ResolvedHost,
} from './inventory/load.ts';
export type { InventoryInput, HostInput, Binding, BindingHost, HostVars } from './inventory/schema.ts';

// Playbooks: a typed settings schema and a build() returning resources, plus optional lint,
// checks against the host's facts, and post-apply verification.
export {
  definePlaybook,
  type Playbook,
  type PlaybookDefinition,
  type PlaybookParts,
  type PlaybookUse,
  type Finding,
  type VerifyContext,
  type ProbeContext,
  type PlaybookStatusParts,
  type ServiceStatus,
  type ServerCertificate,
  type ProbeStatus,
  type QueueCause,
  type LogEvent,
} from './playbook/index.ts';

// Secrets: read at apply time (secret.env / secret.file), never printed; redact() scrubs every
// secret read so far from a text (command output kept as evidence, say).
export { secret, Secret, redact } from './secrets/index.ts';

// Resources: what a playbook's build() returns. Each plans against facts, then the engine applies it.
export { file, absentFile, packages, firewallRule, command, service } from './resources/index.ts';
export { fileId, commandId, serviceId, packagesId } from './resources/index.ts';
export type { PortOpening, PortSources } from './resources/firewall-native.ts';
export type { Resource, Change, ChangeAction, NoChange, Step, UndoRecord } from './resources/index.ts';
export { CHANGE_ACTIONS } from './resources/index.ts';
export type {
  FileOptions,
  AbsentFileOptions,
  PackagesOptions,
  FirewallRuleOptions,
  CommandOptions,
  ServiceOptions,
} from './resources/index.ts';
// A file others edit too (/etc/aliases): file({ undo }) returns a lineEntriesRecord saying which
// entries the resource wrote and what stood there before, so that a rollback takes back only those.
export { lineEntriesRecord, type LineEntriesRecord } from './resources/index.ts';

// Facts: what the host looks like, as resources, checkFacts() and verify() see it. A fact is one
// declaration (defineFact: name, shell snippet, parser); facts.get(fact, arg) reads it; the
// engine gathers every fact of a host in one remote command.
export type { HostFacts, OsFacts, FileFact, PackageFact, ServiceFact, IptablesFacts, Fact, FactQuery } from './facts/types.ts';
export { defineFact } from './facts/fact.ts';
export { fileFact, packagesFact, serviceFact, iptablesFact, ip6tablesFact, testFact, type ServiceQuery } from './facts/builtin.ts';
export { firewallFact, type FirewallFacts, type FirewallManager } from './facts/firewall.ts';

// Shell quoting for remote commands (POSIX single quotes, safe in dash): sh`cmd ${value}` quotes
// every interpolated value; shellQuote / shellJoin quote one word / an argv.
export { sh, shellQuote, shellJoin, type ShellValue } from './transport/quote.ts';

// Errors: one flat family, also as the `errors` namespace. A playbook's verify() throws
// OperationError (with evidence lines) when the host does not do what it should.
export {
  MailprovError,
  InventoryError,
  ConnectError,
  CommandError,
  FactError,
  OperationError,
  SandboxError,
  SecretError,
  LockError,
  KeyError,
} from './errors.ts';
export * as errors from './errors.ts';

// Settings schemas: playbooks outside this repository declare their settings with the same zod.
export { z } from 'zod';
// Scripts of several commands that stop at the first failing one and say which (exit status kept).
export { script, parseScriptFailure, type ScriptStep } from './transport/script.ts';
