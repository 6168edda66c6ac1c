import { describe, expect, it } from 'vitest';
import {
  formatDone,
  formatElapsed,
  formatProgress,
  formatStatus,
  formatUptime,
} from '../../../src/cli/status-format.js';
import { progress, sampleStatus } from '../../support/control-fixtures.js';

describe('formatUptime', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [192_000, '3m12s'],
    [3_599_000, '59m59s'],
    [3_720_000, '1h02m'],
    [86_399_000, '23h59m'],
    [86_400_000, '1d00h'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d04h'],
    [-5, '0s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatUptime(ms)).toBe(text);
  });
});

describe('formatElapsed', () => {
  it.each([
    [0, '0.0s'],
    [420, '0.4s'],
    [12_345, '12.3s'],
    [59_900, '59.9s'],
    [125_000, '2m05s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });
});

describe('formatStatus', () => {
  it('prints the serving release, one aligned row per replica and the last errors', () => {
    expect(formatStatus(sampleStatus())).toBe(
      [
        'switchyard 0.1.0  pid 4242  up 2h05m  external replicas',
        'serving  /srv/app/releases/42  (/srv/app/current)',
        'queued   0',
        '',
        'REPLICA    STATE         PID  RELEASE  IN FLIGHT  SERVED  RESTARTS  UPTIME',
        'replica-1  ready        1301  42               3    1520         0   3m12s',
        'replica-2  backing-off     -  41               0    1400         2       -',
        '',
        'replica-2 last error: exited with code 255',
        '  PHP Fatal error:  Uncaught Error in /srv/app/index.php:3',
        '',
      ].join('\n'),
    );
  });

  it('shows release basenames in the table and says when nothing is deployed yet', () => {
    const status = {
      ...sampleStatus(),
      servingRelease: null,
      replicas: sampleStatus().replicas.map((replica) => ({
        ...replica,
        release: null,
        lastError: null,
      })),
    };
    const text = formatStatus(status);
    expect(text).toContain('serving  (no release yet)');
    expect(text).not.toContain('last error');
    expect(text.split('\n')[5]).toMatch(/^replica-1 +ready +1301 +- +3 /);
  });

  it('says so when there are no replicas', () => {
    expect(formatStatus({ ...sampleStatus(), replicas: [] })).toContain('\nno replicas\n');
  });
});

describe('formatProgress', () => {
  it('names the replica, its state, pid, release and the message', () => {
    expect(formatProgress(progress('replica-1', 'draining', 1234, '3 in flight'))).toBe(
      'replica-1  draining     pid 1234  42  3 in flight',
    );
    expect(formatProgress(progress('replica-1', 'ready', 1301, '', '/srv/app/releases/r2'))).toBe(
      'replica-1  ready        pid 1301  r2',
    );
    expect(formatProgress(progress('replica-2', 'stopped', null, 'stopped', null))).toBe(
      'replica-2  stopped      no pid  stopped',
    );
  });
});

describe('formatDone', () => {
  it('reports success and failure with the duration', () => {
    expect(
      formatDone({ kind: 'done', ok: true, message: '2 replicas restarted', durationMs: 12_345 }),
    ).toBe('restart done in 12.3s: 2 replicas restarted');
    expect(
      formatDone({ kind: 'done', ok: false, message: 'replica-2 failed', durationMs: 3_100 }),
    ).toBe('restart failed after 3.1s: replica-2 failed');
    expect(formatDone({ kind: 'done', ok: true, message: '', durationMs: 400 })).toBe(
      'restart done in 0.4s',
    );
  });
});
