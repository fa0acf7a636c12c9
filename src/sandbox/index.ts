export { sandboxUp, sandboxDown, sandboxStatus, type UpOptions } from './lifecycle.ts';
export {
  readState,
  defaultStateDir,
  sandboxProcesses,
  inspectFolder,
  hostKind,
  hostLabel,
  hostRelease,
  SANDBOX_OWNER,
  type SandboxState,
  type SandboxHost,
  type SandboxHostKind,
} from './state.ts';
export { sandboxAddress, sandboxJump } from './network.ts';
export {
  SMART_HOST_NAME,
  SMART_HOST_USER,
  SMART_HOST_SECOND_USER,
  SMART_HOST_APP_PASSWORD_USER,
  SMART_HOST_WRONG_NAME,
  SMART_HOST_PORT,
  SANDBOX_DOMAIN,
} from './identity.ts';
export { isRunning, madeNamespaces, parseProcStat, recordProcess, type RecordedProcess } from './processes.ts';
export { ensureBase, basePath, defaultCacheDir, DEBIAN_RELEASES, DEFAULT_RELEASE, type DebianRelease } from './base.ts';
export { ensureCentosBase, centosBasePath, RPM_REPO_DIR } from './centos/base.ts';
export { readMessages, waitForMessage } from './messages.ts';
export {
  setSmartHostMode,
  readSmartHostEvents,
  waitForSmartHostEvents,
  smartHostModeFile,
  smartHostEventsFile,
  SMART_HOST_MODES,
  PROVIDER_REPLIES,
  type ProviderReplyMode,
  type SmartHostMode,
  type SmartHostModeName,
  type SmartHostEvent,
} from './smarthost-modes.ts';
export { relaySettings, sandboxPortProber } from './relay.ts';
export {
  lanConnect,
  lanSubmit,
  lanSubmitAuth,
  lanEhlo,
  LAN_CLIENTS,
  LAN_NETWORK,
  LAN_OFFICE_NETWORK,
  LAN_MAX_HOSTS,
  type SandboxLan,
  type LanClientName,
  type LanConnectResult,
  type LanSubmitResult,
  type LanMessage,
} from './lan.ts';
export { cutConnection, type CutOptions, type CutResult } from './cut.ts';
