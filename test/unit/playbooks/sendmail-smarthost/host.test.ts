// Reading a host's load against sendmail's RefuseLA: the difference between a busy relay (wait, warn)
// and a broken one (fail, roll back) when the daemon does not listen after a restart.
import { describe, expect, it } from 'vitest';
import {
  CF_AGE_COMMAND,
  CF_ON_DISK,
  loadRefusal,
  parseCfAge,
  refusesForLoad,
  smtpDaemonAddresses,
} from '../../../../playbooks/sendmail-smarthost/host.ts';

const facts = (load: string, cpus: string, refusela = '') => `load ${load}\ncpus ${cpus}\nrefusela ${refusela}\n`;

describe('loadRefusal', () => {
  it("uses sendmail's default of 12 per CPU when sendmail.cf sets no RefuseLA", () => {
    expect(loadRefusal(facts('23.99', '2'))).toBeUndefined();
    expect(loadRefusal(facts('24.00', '2'))).toEqual({ load: 24, refuseLA: 24 });
    expect(loadRefusal(facts('31.52', '2'))).toEqual({ load: 31.52, refuseLA: 24 });
    expect(loadRefusal(facts('13.0', '1'))).toEqual({ load: 13, refuseLA: 12 });
  });

  it('uses the RefuseLA that sendmail.cf sets', () => {
    expect(loadRefusal(facts('5.10', '8', '5'))).toEqual({ load: 5.1, refuseLA: 5 });
    expect(loadRefusal(facts('4.99', '8', '5'))).toBeUndefined();
    expect(loadRefusal(facts('90', '2', '100'))).toBeUndefined();
  });

  it("believes sendmail's own process title, which reflects its last look at the load", () => {
    const title = 'sendmail: MTA: rejecting connections on daemon MSP-v4: load average: 27\n';
    expect(loadRefusal(title + facts('23.82', '2'))).toEqual({ load: 27, refuseLA: 24 });
    expect(loadRefusal('sendmail: MTA: accepting connections\n' + facts('3.1', '2'))).toBeUndefined();
  });

  it('never blames the load when RefuseLA is off (0) or the output is unreadable', () => {
    expect(loadRefusal(facts('500', '2', '0'))).toBeUndefined();
    expect(loadRefusal('')).toBeUndefined();
    expect(loadRefusal('load \ncpus 2\nrefusela \n')).toBeUndefined();
  });
});

describe('refusesForLoad', () => {
  it("takes sendmail's word only: its process title", () => {
    expect(refusesForLoad('sendmail: MTA: rejecting connections on daemon MTA-v4: load average: 31\n')).toBe(true);
    expect(refusesForLoad('sendmail: MTA: accepting connections\nload 40\ncpus 2\nrefusela \n')).toBe(false);
    expect(refusesForLoad('grep rejecting connections on daemon X: load average: 3\n')).toBe(false);
  });
});

describe('smtpDaemonAddresses', () => {
  it('reads the port 25 daemons of a cf, a missing Addr meaning every address of the family', () => {
    const cf = [
      'O DaemonPortOptions=Family=inet, Name=MTA-v4, Port=smtp',
      'O DaemonPortOptions=Family=inet, Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1',
      'O DaemonPortOptions=Family=inet6, Name=MTA-v6, Port=smtp, Addr=::1',
      'O DaemonPortOptions=Family=inet6, Name=MTA-v6b, Port=25',
      '#O DaemonPortOptions=Port=smtp,Addr=10.0.0.1, Name=MTA',
    ].join('\n');
    expect(smtpDaemonAddresses(cf)).toEqual(['0.0.0.0', '::1', '::']);
  });

  it("reads RHEL's stock form too", () => {
    expect(smtpDaemonAddresses('O DaemonPortOptions=Port=smtp,Addr=127.0.0.1, Name=MTA\n')).toEqual(['127.0.0.1']);
    expect(smtpDaemonAddresses('')).toEqual([]);
  });
});

describe("plan --probe: the config on disk, not necessarily the daemon's (issue 24, defect 10)", () => {
  it('labels the open-relay result as the file sendmail -bt reads', () => {
    expect(CF_ON_DISK).toBe('/etc/mail/sendmail.cf on disk (as sendmail -bt reads it, not necessarily what the running daemon loaded)');
  });

  it("reads the daemon's start and the cf's last write, either of which may be missing", () => {
    expect(parseCfAge('daemon 1796603572\ncf 1796603580\n')).toEqual({ daemonStarted: 1796603572, cfWritten: 1796603580 });
    expect(parseCfAge('cf 1796603580\n')).toEqual({ daemonStarted: undefined, cfWritten: 1796603580 });
    expect(parseCfAge('cf \n')).toEqual({ daemonStarted: undefined, cfWritten: undefined });
    // the daemon's start from /proc/<pid>/stat and the boot time, never the mtime of /proc/<pid>
    expect(CF_AGE_COMMAND).toContain('/proc/$p/stat');
    expect(CF_AGE_COMMAND).toContain('btime');
  });
});
