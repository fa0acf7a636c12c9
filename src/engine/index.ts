export * from './events.ts';
export { planHost, checkResources, factQueries, type HostPlan } from './plan.ts';
export { runHost, type HostRunOptions } from './host.ts';
export { runHosts, defaultRunDir, type RunOptions } from './run.ts';
export { rollbackHost, readHistory, type RollbackOptions, type RollbackResult, type HostHistory } from './rollback-host.ts';
export type { ForgottenFile, RollbackPlan } from './undo.ts';
export { forgetSecretsHost, secretFilesOf, type ForgetOptions, type ForgetResult } from './forget-secrets.ts';
