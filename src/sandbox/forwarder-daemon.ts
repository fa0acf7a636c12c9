// Runs the sandbox's forwarder as a process:
//   node --import tsx src/sandbox/forwarder-daemon.ts <configJsonPath>
// Writes the ports file (host name -> port) once every port listens, then the pid file: callers wait
// for the pid file and read the ports.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { cutsFile, type ForwarderConfig, type ForwarderCuts, startForwarder } from './forwarder.ts';

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function main(configPath: string | undefined): Promise<void> {
  if (!configPath) throw new Error('usage: forwarder-daemon.ts <configJsonPath>');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as ForwarderConfig;
  // a connection to a host that is down or not up yet is refused by its socket: normal, not logged
  const forwarder = await startForwarder(config.hosts, (err) => {
    if (!/ECONNREFUSED|ENOENT|ECONNRESET|EPIPE/.test(err.message)) process.stderr.write(`forwarder: ${err.message}\n`);
  });
  await writeAtomic(config.portsFile, `${JSON.stringify(forwarder.ports)}\n`);
  await writeAtomic(config.pidFile, `${process.pid}\n`);
  // fault injection (cut.ts): the cuts file says which hosts to cut off and until when; done is
  // written with its seq once they are cut
  process.on('SIGUSR2', () => {
    readFile(cutsFile(configPath), 'utf8')
      .then(async (text) => {
        const { seq, cuts } = JSON.parse(text) as ForwarderCuts;
        for (const [name, until] of Object.entries(cuts)) forwarder.cut(name, until);
        await writeAtomic(`${cutsFile(configPath)}.done`, `${seq}\n`);
      })
      .catch((err: Error) => process.stderr.write(`forwarder: cut: ${err.message}\n`));
  });
  // open connections would hold a graceful close: a stop is an exit
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

main(process.argv[2]).catch((err: Error) => {
  process.stderr.write(`forwarder: ${err.message}\n`);
  process.exit(1);
});
