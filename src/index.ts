// The public face of mailprov, for inventories and playbooks: `import { ... } from 'mailprov'`.
export { defineInventory, hostsFromIni, loadInventory, type Inventory, type ResolvedHost } from './inventory/load.ts';
export type { InventoryInput, HostInput } from './inventory/schema.ts';
export { definePlaybook, type Playbook, type PlaybookParts, type Finding, type VerifyContext } from './playbook/index.ts';
export { secret, Secret } from './secrets/index.ts';
export { file, packages, firewallRule, command, service, serviceId } from './resources/index.ts';
export type { Resource, Change, NoChange, Step, UndoRecord } from './resources/index.ts';
export type { HostFacts, OsFacts } from './facts/types.ts';
export * as errors from './errors.ts';
// playbooks outside this repository declare their settings with the same zod
export { z } from 'zod';
