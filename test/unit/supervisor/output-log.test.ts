import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OutputLog } from '../../../src/supervisor/workers/output-log.js';

interface Logged {
  level: number;
  replica: string;
  workerPid: number;
  msg: string;
}

/** An OutputLog whose logger writes into an array. */
function outputLog(maxLines?: number) {
  const logged: Logged[] = [];
  const logger = pino(
    { level: 'info', base: null, timestamp: false },
    { write: (line: string) => logged.push(JSON.parse(line)) },
  );
  const log = new OutputLog({ logger, replica: 'replica-3', ...(maxLines ? { maxLines } : {}) });
  return { log, logged };
}

async function ended(stream: PassThrough, log: OutputLog): Promise<void> {
  stream.end();
  await log.drained(1_000);
}

describe('OutputLog', () => {
  it('logs each line with the replica and worker pid, whatever the chunking', async () => {
    const { log, logged } = outputLog();
    const stream = new PassThrough();
    log.attach(stream, 42);
    stream.write('first li');
    stream.write('ne\nsecond line\r\nthi');
    stream.write('rd');
    await ended(stream, log);
    expect(logged.map((entry) => [entry.replica, entry.workerPid, entry.msg])).toEqual([
      ['replica-3', 42, 'first line'],
      ['replica-3', 42, 'second line'],
      ['replica-3', 42, 'third'],
    ]);
    expect(log.tail()).toBe('first line\nsecond line\nthird');
  });

  it("logs php-fpm's and PHP's errors and warnings at warn, the rest at info", async () => {
    const { log, logged } = outputLog();
    const stream = new PassThrough();
    log.attach(stream, 1);
    stream.write(
      [
        '[22-Nov-2026 17:59:26] NOTICE: fpm is running, pid 1',
        '[22-Nov-2026 17:59:26] ERROR: FPM initialization failed',
        '[22-Nov-2026 17:59:26] WARNING: [pool replica-1] child 7 exited on signal 9',
        '[22-Nov-2026 17:59:26] ALERT: [pool replica-1] pm.max_children must be a positive value',
        'PHP Fatal error:  Uncaught Error: boom',
        'an error, in lower case',
        '',
      ].join('\n'),
    );
    await ended(stream, log);
    expect(logged.map((entry) => entry.level)).toEqual([30, 40, 40, 40, 40, 30]);
  });

  it('keeps only the last lines, and names the pid when several processes write', async () => {
    const { log } = outputLog(3);
    const a = new PassThrough();
    const b = new PassThrough();
    log.attach(a, 10);
    log.attach(b, 11);
    a.write('a1\na2\n');
    b.write('b1\n');
    a.write('a3\n');
    a.end();
    await ended(b, log);
    expect(log.tail()).toBe('[pid 10] a2\n[pid 11] b1\n[pid 10] a3');
  });

  it('cuts a runaway line without a newline into pieces instead of buffering it whole', async () => {
    const { log, logged } = outputLog();
    const stream = new PassThrough();
    log.attach(stream, 1);
    stream.write('x'.repeat(20_000));
    await ended(stream, log);
    expect(logged.map((entry) => entry.msg.length)).toEqual([8192, 8192, 3616]);
  });

  it('drained() gives up after its bound on a stream that stays open', async () => {
    const { log } = outputLog();
    log.attach(new PassThrough(), 1);
    const started = Date.now();
    await log.drained(50);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
