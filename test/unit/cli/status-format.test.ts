import { describe, expect, it } from 'vitest';
import {
  formatDeployRecord,
  formatDone,
  formatElapsed,
  formatEvent,
  formatFailure,
  formatOutcome,
  formatProgress,
  formatStatus,
  formatToggle,
  formatUptime,
  formatWhen,
} from '../../../src/cli/status-format.js';
import type { DoneEvent } from '../../../src/control/messages.js';
import {
  progress,
  sampleDeployRecord,
  sampleStatus,
  toggle,
} from '../../support/control-fixtures.js';

/** sampleStatus()'s last deploy started at this time. */
const DEPLOYED_AT = Date.parse('2026-03-01T10:00:00.000Z');

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
  it('prints the serving release, the last deploy, the rollback target, one aligned row per replica and the last errors', () => {
    expect(formatStatus(sampleStatus())).toBe(
      [
        'switchyard 0.1.0  pid 4242  up 2h05m  external replicas',
        'serving  /srv/app/releases/42  (/srv/app/current)',
        'last     deploy of 42  ok  2026-03-01T10:00:00.000Z  took 12.3s  switched to /srv/app/releases/42',
        'rollback /srv/app/releases/41',
        'queued   0',
        '',
        'REPLICA    STATE         PID  RELEASE  IN FLIGHT  ABANDONED  STUCK  SERVED  RESTARTS  UPTIME',
        'replica-1  ready        1301  42               3          1      1    1520         0   3m12s',
        'replica-2  backing-off     -  41               0          0      0    1400         2       -',
        '',
        'replica-2 last error: exited with code 255',
        '  PHP Fatal error:  Uncaught Error in /srv/app/index.php:3',
        '',
        'replica-1 stuck requests:',
        '  pid 1302  63.0s  stuck  /srv/app/current/report.php (/report.php?id=7)  session 3fa2c1d04b9e: waiting on PHP session lock 3fa2c1d04b9e',
        '',
      ].join('\n'),
    );
  });

  it('shows session lanes under the queue: counts, the longest lane by its hash, the settings', () => {
    const status = {
      ...sampleStatus(),
      sessions: {
        perSession: 1,
        affinity: 'session' as const,
        lanes: 3,
        waiting: 12,
        longest: { session: '3fa2c1d04b9e', waiting: 9, oldestWaitMs: 1_234 },
      },
    };
    const lines = formatStatus(status).split('\n');
    expect(lines.slice(4, 7)).toEqual([
      'queued   0',
      'sessions 3 lanes, 12 waiting; longest 3fa2c1d04b9e… 9 waiting, oldest 1.2s (1 per session, affinity session)',
      '',
    ]);
    const quiet = formatStatus({
      ...status,
      sessions: { perSession: 0, affinity: 'none', lanes: 1, waiting: 0, longest: null },
    });
    expect(quiet).toContain('\nsessions 1 lane, 0 waiting (lanes off, affinity none)\n');
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
    expect(text.split('\n')[7]).toMatch(/^replica-1 +ready +1301 +- +3 /);
  });

  it('says when there was no deploy yet and nothing to roll back to', () => {
    const text = formatStatus({ ...sampleStatus(), lastDeploy: null, rollbackTarget: null });
    expect(text.split('\n').slice(2, 4)).toEqual([
      'last     (no deploy yet)',
      'rollback (nothing to roll back to)',
    ]);
  });

  it('shows a recent deploy’s age when given the time', () => {
    const text = formatStatus(sampleStatus(), DEPLOYED_AT + 192_000);
    expect(text.split('\n')[2]).toBe(
      'last     deploy of 42  ok  3m12s ago  took 12.3s  switched to /srv/app/releases/42',
    );
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
    // The daemon's log-style messages lose what the columns already say.
    expect(formatProgress(progress('replica-2', 'stopped', null, 'stopped', null))).toBe(
      'replica-2  stopped      no pid',
    );
    expect(
      formatProgress(progress('replica-1', 'draining', 1234, 'draining (outdated, 2 in flight)')),
    ).toBe('replica-1  draining     pid 1234  42  outdated, 2 in flight');
    expect(formatProgress(progress('replica-1', 'ready', 1301, 'ready (pid 1301)'))).toBe(
      'replica-1  ready        pid 1301  42',
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

describe('formatDeployRecord', () => {
  it('names the trigger and the release, ok or failed, when, how long and the first line', () => {
    const failed = sampleDeployRecord({
      trigger: 'rollback',
      release: '/srv/app/releases/41',
      ok: false,
      durationMs: 8_100,
      message:
        'replica-1 on /srv/app/releases/41: exited with code 255\nPHP Fatal error:  boom\n/srv/app/releases/42 kept serving throughout',
    });
    expect(formatDeployRecord(failed, DEPLOYED_AT + 5_000)).toBe(
      'rollback to 41  failed  5s ago  took 8.1s  replica-1 on /srv/app/releases/41: exited with code 255',
    );
    expect(formatDeployRecord(sampleDeployRecord({ trigger: 'symlink', message: '' }))).toBe(
      'symlink flip to 42  ok  2026-03-01T10:00:00.000Z  took 12.3s',
    );
  });
});

describe('formatWhen', () => {
  const iso = '2026-03-01T10:00:00.000Z';
  it.each([
    [undefined, iso],
    [DEPLOYED_AT, '0s ago'],
    [DEPLOYED_AT - 2_000, '0s ago'],
    [DEPLOYED_AT + 180_000, '3m00s ago'],
    [DEPLOYED_AT + 5 * 3_600_000, '5h00m ago'],
    [DEPLOYED_AT + 86_400_000, iso],
    [DEPLOYED_AT - 60_000, iso],
  ])('at %s it is %s', (now, text) => {
    expect(formatWhen(iso, now)).toBe(text);
  });

  it('leaves a time it cannot read as it is', () => {
    expect(formatWhen('yesterday', DEPLOYED_AT)).toBe('yesterday');
  });
});

describe('formatToggle and formatEvent', () => {
  it('names the new release and the previous one, shortened when it is beside it', () => {
    expect(formatToggle(toggle('/srv/app/releases/43'))).toBe(
      'cut-over  new requests now go to /srv/app/releases/43 (was …/42)',
    );
    expect(formatToggle(toggle('/srv/other/43', '/srv/app/releases/42'))).toBe(
      'cut-over  new requests now go to /srv/other/43 (was /srv/app/releases/42)',
    );
    expect(formatToggle(toggle('/srv/app/releases/43', null))).toBe(
      'cut-over  new requests now go to /srv/app/releases/43',
    );
    expect(formatToggle(toggle('/r43', '/r42'))).toBe(
      'cut-over  new requests now go to /r43 (was /r42)',
    );
  });

  it('formats either kind of progress line', () => {
    expect(formatEvent(toggle('/srv/app/releases/43'))).toMatch(/^cut-over {2}/);
    expect(formatEvent(progress('replica-1', 'ready', 7, ''))).toBe(
      'replica-1  ready        pid 7  42',
    );
  });
});

describe('formatOutcome and formatFailure', () => {
  const ok: DoneEvent = {
    kind: 'done',
    ok: true,
    message: 'switched to /srv/app/releases/43',
    durationMs: 12_345,
  };
  const failed: DoneEvent = {
    kind: 'done',
    ok: false,
    message:
      'replica-1 on /srv/app/releases/43: exited with code 255\nPHP Parse error:  syntax error in index.php on line 3\n\n  at bootstrap\n/srv/app/releases/42 kept serving throughout; the symlink points at /srv/app/releases/42 again\n',
    durationMs: 8_100,
  };

  it('says where a deploy or rollback went and how long it took', () => {
    expect(formatOutcome('deploy', ok, '/srv/app/releases/43')).toBe(
      'deployed /srv/app/releases/43 in 12.3s',
    );
    expect(formatOutcome('rollback', { ...ok, durationMs: 3_200 }, '/srv/app/releases/42')).toBe(
      'rolled back to /srv/app/releases/42 in 3.2s',
    );
    expect(formatOutcome('rollback', ok, null)).toBe(
      'rolled back in 12.3s: switched to /srv/app/releases/43',
    );
    expect(formatOutcome('restart', { ...ok, message: '2 replicas restarted' }, null)).toBe(
      'restart done in 12.3s: 2 replicas restarted',
    );
  });

  it('a switch that could not be recorded: where it went, then why and what it costs', () => {
    const unrecorded: DoneEvent = {
      ...ok,
      ok: false,
      message: 'switched to /srv/app/releases/43, but the release history could not be saved: …',
      historyError: 'ENOSPC: no space left on device (/var/lib/switchyard/releases.json)',
    };
    const cost =
      '  the daemon keeps it in memory; after a daemon restart, `switchyard rollback` will not know this switch';
    expect(formatOutcome('deploy', unrecorded, '/srv/app/releases/43')).toBe(
      [
        'deployed /srv/app/releases/43 in 12.3s, but the release history could not be saved: ENOSPC: no space left on device (/var/lib/switchyard/releases.json)',
        cost,
      ].join('\n'),
    );
    expect(formatOutcome('rollback', unrecorded, null)).toBe(
      [
        'rolled back in 12.3s, but the release history could not be saved: ENOSPC: no space left on device (/var/lib/switchyard/releases.json)',
        cost,
      ].join('\n'),
    );
  });

  it('puts the first line of a failure after its duration and indents the rest', () => {
    expect(formatOutcome('deploy', failed, '/srv/app/releases/43')).toBe(
      [
        'deploy failed after 8.1s: replica-1 on /srv/app/releases/43: exited with code 255',
        '  PHP Parse error:  syntax error in index.php on line 3',
        '',
        '    at bootstrap',
        '  /srv/app/releases/42 kept serving throughout; the symlink points at /srv/app/releases/42 again',
      ].join('\n'),
    );
    expect(formatFailure('rollback', { ...failed, message: '' })).toBe(
      'rollback failed after 8.1s',
    );
    expect(formatFailure('restart', { ...failed, message: '\nlate\n' })).toBe(
      'restart failed after 8.1s: late',
    );
  });
});
