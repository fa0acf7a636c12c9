// Sandbox certificate authority: a local CA (made with the openssl CLI) that signs the
// stand-in smart host's certificate, so sendmail on the sandbox hosts can verify it.
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { local } from './local.ts';

const CA_SUBJECT = '/CN=mailprov sandbox CA';
const CA_DAYS = '3650';
// Some TLS clients refuse server certs valid for more than 825 days.
const SERVER_DAYS = '825';
// Letters, digits, dots and dashes only: the name ends up in an openssl subject and config file.
const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** The CA in `dir`, made if missing. A second CA (the hosts trust only the first) gets a subject of its own. */
export async function ensureCa(dir: string, subject = CA_SUBJECT): Promise<{ caCert: string; caKey: string }> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  if ((await exists(caCert)) && (await exists(caKey))) return { caCert, caKey };

  await mkdir(dir, { recursive: true });
  // Write under temporary names and rename, so an interrupted run never leaves a half CA.
  const tmpCert = `${caCert}.${tmpSuffix()}`;
  const tmpKey = `${caKey}.${tmpSuffix()}`;
  try {
    await createPrivateFile(tmpKey);
    await openssl([
      'req',
      '-x509',
      '-new',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      tmpKey,
      '-out',
      tmpCert,
      '-days',
      CA_DAYS,
      '-subj',
      subject,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(tmpKey, 0o600);
    await rename(tmpKey, caKey);
    await rename(tmpCert, caCert);
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
  return { caCert, caKey };
}

export async function issueServerCert(dir: string, hostname: string): Promise<{ cert: string; key: string }> {
  if (!HOSTNAME_RE.test(hostname)) throw new Error(`invalid hostname for a certificate: ${JSON.stringify(hostname)}`);
  const { caCert, caKey } = await ensureCa(dir);
  const cert = join(dir, `${hostname}.crt`);
  const key = join(dir, `${hostname}.key`);
  // Reuse only a cert the current CA signed: a re-created CA makes old certs useless.
  if ((await exists(cert)) && (await exists(key)) && (await verifies(caCert, cert))) return { cert, key };

  const suffix = tmpSuffix();
  const tmpKey = `${key}.${suffix}`;
  const tmpCsr = join(dir, `${hostname}.csr.${suffix}`);
  const tmpExt = join(dir, `${hostname}.ext.${suffix}`);
  const tmpCert = `${cert}.${suffix}`;
  try {
    await createPrivateFile(tmpKey);
    // the key (EC P-256) and its request in one openssl process: one fewer per certificate in `sandbox up`
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      tmpKey,
      '-subj',
      `/CN=${hostname}`,
      '-out',
      tmpCsr,
    ]);
    await writeFile(tmpExt, serverExtensions(hostname));
    await openssl([
      'x509',
      '-req',
      '-in',
      tmpCsr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      // A random serial avoids keeping a ca.srl file next to the CA.
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      SERVER_DAYS,
      '-sha256',
      '-extfile',
      tmpExt,
      '-out',
      tmpCert,
    ]);
    await chmod(tmpKey, 0o600);
    await rename(tmpKey, key);
    await rename(tmpCert, cert);
  } finally {
    await Promise.all([tmpKey, tmpCsr, tmpExt, tmpCert].map((p) => rm(p, { force: true })));
  }
  return { cert, key };
}

function serverExtensions(hostname: string): string {
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:${hostname}`,
    '',
  ].join('\n');
}

async function verifies(caCert: string, cert: string): Promise<boolean> {
  try {
    await openssl(['verify', '-CAfile', caCert, cert]);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: string[]): Promise<void> {
  await local({ what: `openssl ${args[0]}` })`openssl ${args}`;
}

// Create the key file as 0600 before openssl writes into it, so it is never world-readable.
async function createPrivateFile(path: string): Promise<void> {
  await writeFile(path, '', { mode: 0o600 });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function tmpSuffix(): string {
  return `tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}
