// The sandbox's processes, appended as `up` starts them: what `down` kills after a crash.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendProcessLog,
  mergeProcesses,
  parseProcessLog,
  processLogFile,
  readProcessLog,
  resetProcessLog,
} from '../../../src/sandbox/process-log.ts';

const p = (pid: number, start = '100', what = `p${pid}`) => ({ pid, start, what });

describe('the process log', () => {
  it('reads back what was appended, in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-plog-'));
    try {
      resetProcessLog(dir);
      appendProcessLog(dir, p(1));
      appendProcessLog(dir, p(2, '200', 'relay1 host'));
      expect(readProcessLog(dir)).toEqual([p(1), p(2, '200', 'relay1 host')]);
      // a line cut short by a crash is skipped, the others kept
      appendFileSync(processLogFile(dir), '{"pid":3,"sta');
      expect(readProcessLog(dir)).toEqual([p(1), p(2, '200', 'relay1 host')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is empty when there is none', () => {
    expect(readProcessLog('/nonexistent/mailprov')).toEqual([]);
  });

  it('skips lines that are not a whole record', () => {
    const text = [
      '{"pid":1,"start":"5","what":"a"}',
      '{"pid":"2","start":"5","what":"b"}',
      '{"pid":3,"start":"x","what":"c"}',
      '[]',
      'null',
      '',
    ].join('\n');
    expect(parseProcessLog(text)).toEqual([p(1, '5', 'a')]);
  });

  it('keeps the namespaces recorded with a process only when each is one /proc names', () => {
    const text = [
      '{"pid":1,"start":"5","what":"a","ns":{"net":"net:[4026532201]","ipc":"ipc:[4026532202]"}}',
      '{"pid":2,"start":"5","what":"b","ns":{"net":"mnt:[4026532201]"}}',
      '{"pid":3,"start":"5","what":"c","ns":{"cgroup":"cgroup:[1]"}}',
      '{"pid":4,"start":"5","what":"d","ns":"net:[1]"}',
    ].join('\n');
    expect(parseProcessLog(text)).toEqual([
      { ...p(1, '5', 'a'), ns: { net: 'net:[4026532201]', ipc: 'ipc:[4026532202]' } },
      p(2, '5', 'b'),
      p(3, '5', 'c'),
      p(4, '5', 'd'),
    ]);
  });

  it('merges with the state file: each process (pid and start time) once', () => {
    expect(mergeProcesses([p(1), p(2)], [p(2), p(3), p(1, '101')])).toEqual([p(1), p(2), p(3), p(1, '101')]);
  });
});
