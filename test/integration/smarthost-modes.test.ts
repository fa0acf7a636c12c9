// The stand-in smart host's failure modes as a sandbox host sees them: through the host's own
// smtp.sandbox.test:587, verified by the host's OpenSSL against the CAs the host trusts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../src/engine/index.ts';
import {
  readSmartHostEvents,
  relaySettings,
  setSmartHostMode,
  type SandboxState,
  type SmartHostMode,
  waitForSmartHostEvents,
} from '../../src/sandbox/index.ts';
import { remote, sandboxInventory, startSandbox, stopSandbox } from './helpers.ts';

let state: SandboxState | undefined;

beforeAll(async () => {
  state = await startSandbox(1);
});

afterAll(async () => {
  await stopSandbox(state);
  // hygiene: the mode and events files went with the folder
  if (state) expect(existsSync(state.dir)).toBe(false);
});

// stdin closed: s_client ends after the handshake. -brief prints "Verification: OK" on success.
const S_CLIENT =
  'timeout 20 openssl s_client -brief -starttls smtp -connect smtp.sandbox.test:587 -verify_return_error -verify_hostname smtp.sandbox.test </dev/null 2>&1';

async function sClientIn(mode: SmartHostMode) {
  await setSmartHostMode(state!, mode);
  return remote(state!, 0, S_CLIENT);
}

describe('smart host modes on a sandbox host', () => {
  it('sandbox up issued the certificates of the bad-certificate modes', () => {
    for (const file of ['ca/rogue/ca.crt', 'ca/rogue/smtp.sandbox.test.crt', 'ca/other.sandbox.test.crt']) {
      expect(existsSync(join(state!.dir, file)), file).toBe(true);
    }
  });

  it('openssl verifies the normal certificate and refuses the untrusted and the wrong-name one', async () => {
    const normal = await sClientIn({ mode: 'normal' });
    expect(normal.code, normal.stdout).toBe(0);
    expect(normal.stdout).toContain('Verification: OK');

    const untrusted = await sClientIn({ mode: 'untrusted-cert' });
    expect(untrusted.code, untrusted.stdout).not.toBe(0);
    expect(untrusted.stdout).toMatch(/unable to get local issuer certificate/);

    const wrongName = await sClientIn({ mode: 'wrong-name-cert' });
    expect(wrongName.code, wrongName.stdout).not.toBe(0);
    expect(wrongName.stdout).toMatch(/hostname mismatch/);

    // the server records a refused handshake as its side ends, possibly after s_client has exited
    const events = await waitForSmartHostEvents(state!, (all) => all.filter((e) => e.kind === 'tls-failed').length >= 2);
    const summary = events.map((e) => (e.kind === 'connection' ? `connection ${e.mode}` : e.kind));
    expect(summary).toEqual([
      'connection normal',
      'starttls',
      'connection untrusted-cert',
      'tls-failed',
      'connection wrong-name-cert',
      'tls-failed',
    ]);
    expect(events.filter((e) => e.kind === 'tls-failed').map((e) => e.error)).toEqual([
      expect.stringMatching(/alert unknown ca/),
      expect.stringMatching(/alert bad certificate/),
    ]);
  });

  it('starttls-injection: the probe, from the host, refuses what came behind the 220 to STARTTLS and sends no password', async () => {
    await setSmartHostMode(state!, { mode: 'starttls-injection' });
    const since = (await readSmartHostEvents(state!)).length;
    const inventory = sandboxInventory(state!, [{ on: 'relays', use: sendmailSmartHost(relaySettings(state!, { verify: undefined })) }]);
    // plan --probe: nothing is changed on the host, the probe runs from it
    const [r] = await runHosts(inventory.hosts, { dryRun: true, probe: true, forks: 1, emit: () => {} });
    await setSmartHostMode(state!, { mode: 'normal' });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /smart host check failed: smtp\.sandbox\.test:587 sent more than its reply to STARTTLS before TLS began, .*CVE-2011-0411.*; the probe stopped before TLS and sent no password/,
    );
    const events = (await readSmartHostEvents(state!)).slice(since);
    expect(events.filter((e) => e.kind === 'connection').map((e) => e.kind === 'connection' && e.mode)).toEqual(['starttls-injection']);
    expect(events.filter((e) => e.kind === 'auth' || e.kind === 'starttls')).toEqual([]);
  });

  it('tempfail answers the greeting with 421 4.7.0 and closes', async () => {
    await setSmartHostMode(state!, { mode: 'tempfail' });
    const r = await remote(state!, 0, `timeout 10 bash -c 'exec 3<>/dev/tcp/smtp.sandbox.test/587 && cat <&3'`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('421 4.7.0 Try again later, closing connection.\r\n');
  });
});
