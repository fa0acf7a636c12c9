export * from './events.ts';
export { planHost, checkResources, type HostPlan } from './plan.ts';
export { runHost, gatherFacts, type HostRunOptions } from './host.ts';
export { runHosts, defaultRunDir, type RunOptions } from './run.ts';
