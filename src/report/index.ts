export { ConsoleReporter, type ConsoleOptions } from './console.ts';
export { resultsToJson, runExitCode, summarize } from './json.ts';
export { unifiedDiff } from './diff.ts';
export { renderHistory, renderHistoryError, renderRollback, rollbackToJson, historyToJson } from './rollback.ts';
export { renderForget, forgetToJson } from './forget.ts';
export { groupFindings, listHosts, renderInventoryWarnings, type SharedFinding } from './once.ts';
