// Runs the sandbox smart host as a process:
//   node --import tsx src/sandbox/smarthost-daemon.ts <configJsonPath>
// The pid file appears only once every listener is up, so callers can wait for it.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { startSmartHost, type SmartHost } from './smarthost.ts';

interface DaemonConfig {
  socketPath: string;
  tcpPort?: number;
  certPath: string;
  keyPath: string;
  users: Record<string, string>;
  storeDir: string;
  pidFile: string;
}

async function main(configPath: string | undefined): Promise<void> {
  if (!configPath) throw new Error('usage: smarthost-daemon.ts <configJsonPath>');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as DaemonConfig;
  const tls = { cert: await readFile(config.certPath, 'utf8'), key: await readFile(config.keyPath, 'utf8') };
  const common = { tls, users: config.users, storeDir: config.storeDir, onError: logError };

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

// Connection-level errors (resets, failed handshakes) are worth seeing but must not stop the daemon.
function logError(err: Error): void {
  process.stderr.write(`smarthost: ${err.message}\n`);
}

main(process.argv[2]).catch((err: Error) => {
  process.stderr.write(`smarthost: ${err.message}\n`);
  process.exit(1);
});
