// Runs the sandbox smart host as a process:
//   node --import tsx src/sandbox/smarthost-daemon.ts <configJsonPath>
// The pid file appears only once every listener is up, so callers can wait for it.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { startSmartHost, type BadCertMode, type Pem, type SmartHost } from './smarthost.ts';

interface CertPaths {
  certPath: string;
  keyPath: string;
}

interface DaemonConfig extends CertPaths {
  socketPath: string;
  tcpPort?: number;
  /** The certificates of the untrusted-cert and wrong-name-cert modes */
  badCerts?: Partial<Record<BadCertMode, CertPaths>>;
  users: Record<string, string>;
  appPasswordUsers?: string[];
  modeFile?: string;
  eventsFile?: string;
  storeDir: string;
  pidFile: string;
}

async function main(configPath: string | undefined): Promise<void> {
  if (!configPath) throw new Error('usage: smarthost-daemon.ts <configJsonPath>');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as DaemonConfig;
  const badTls: Partial<Record<BadCertMode, Pem>> = {};
  for (const [mode, paths] of Object.entries(config.badCerts ?? {}) as [BadCertMode, CertPaths][]) badTls[mode] = await readPem(paths);
  const common = {
    tls: await readPem(config),
    badTls,
    users: config.users,
    appPasswordUsers: config.appPasswordUsers,
    modeFile: config.modeFile,
    eventsFile: config.eventsFile,
    storeDir: config.storeDir,
    onError: logError,
  };

  const hosts: SmartHost[] = [await startSmartHost({ ...common, listen: { path: config.socketPath } })];
  if (config.tcpPort !== undefined) {
    hosts.push(await startSmartHost({ ...common, listen: { host: '127.0.0.1', port: config.tcpPort } }));
  }

  const tmpPid = `${config.pidFile}.tmp`;
  await writeFile(tmpPid, `${process.pid}\n`);
  await rename(tmpPid, config.pidFile);

  const stop = async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await rm(config.pidFile, { force: true });
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function readPem(paths: CertPaths): Promise<Pem> {
  return { cert: await readFile(paths.certPath, 'utf8'), key: await readFile(paths.keyPath, 'utf8') };
}

// Connection-level errors (resets, failed handshakes) are worth seeing but must not stop the daemon.
function logError(err: Error): void {
  process.stderr.write(`smarthost: ${err.message}\n`);
}

main(process.argv[2]).catch((err: Error) => {
  process.stderr.write(`smarthost: ${err.message}\n`);
  process.exit(1);
});
