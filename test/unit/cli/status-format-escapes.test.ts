import { describe, expect, it } from 'vitest';
import {
  formatDeployRecord,
  formatOutcome,
  formatProgress,
  formatStatus,
  formatToggle,
} from '../../../src/cli/status-format.js';
import type { DaemonStatus } from '../../../src/control/messages.js';
import {
  progress,
  sampleDeployRecord,
  sampleStatus,
  toggle,
} from '../../support/control-fixtures.js';

// A release directory may be named with anything but '/' and NUL: what the CLI prints from
// it must never reach the terminal as a control sequence.

const RED = '/srv/app/releases/43\x1b[31m\x1b]0;owned\x07';
const SHOWN = '/srv/app/releases/43\\x1b[31m\\x1b]0;owned\\x07';
const SHOWN_NAME = '43\\x1b[31m\\x1b]0;owned\\x07';

/** No C0/C1 control but the line breaks the format itself puts. */
function expectNoControls(text: string): void {
  expect(text).not.toMatch(/[^\P{Cc}\n]/u);
}

describe('control characters in what the CLI prints', () => {
  it('status: serving, rollback, the table’s release column (aligned) and last errors', () => {
    const sample = sampleStatus();
    const status: DaemonStatus = {
      ...sample,
      servingRelease: RED,
      rollbackTarget: `${RED}\n`,
      lastDeploy: sampleDeployRecord({ release: RED, message: `switched to ${RED}` }),
      replicas: sample.replicas.map((replica, index) =>
        index === 0
          ? { ...replica, release: RED, lastError: `exited\x1b[2J\nPHP \x1b[1mFatal` }
          : replica,
      ),
    };
    const text = formatStatus(status);
    expectNoControls(text);
    expect(text).toContain(`serving  ${SHOWN}  (/srv/app/current)`);
    expect(text).toContain(`rollback ${SHOWN}\\n`);
    expect(text).toContain(`last     deploy of ${SHOWN_NAME}  ok`);
    expect(text).toContain(`switched to ${SHOWN}`);
    expect(text).toContain('replica-1 last error: exited\\x1b[2J\n  PHP \\x1b[1mFatal');
    // Escaped before the columns are measured: the rows still line up.
    const [header, first, second] = text
      .split('\n')
      .filter((line) => /^(REPLICA|replica-\d) /.test(line));
    const column = header?.indexOf('RELEASE');
    expect(first?.indexOf(SHOWN_NAME)).toBe(column);
    expect(second?.indexOf(' 41 ')).toBe((column ?? 0) - 1);
    expect(header?.indexOf('SERVED')).toBeGreaterThan((column ?? 0) + SHOWN_NAME.length);
  });

  it('progress lines, the cut-over and the outcome of a deploy', () => {
    const line = formatProgress(progress('replica-1', 'ready', 12, `ready on ${RED}`, RED));
    expectNoControls(line);
    expect(line).toContain(SHOWN_NAME);
    expect(line).toContain(`on ${SHOWN}`);

    const cutOver = formatToggle(toggle(RED, '/srv/app/releases/42\x1b[0m'));
    expectNoControls(cutOver);
    expect(cutOver).toBe(`cut-over  new requests now go to ${SHOWN} (was …/42\\x1b[0m)`);

    const done = {
      kind: 'done',
      ok: true,
      message: `switched to ${RED}`,
      durationMs: 1_000,
    } as const;
    expect(formatOutcome('deploy', done, RED)).toBe(`deployed ${SHOWN} in 1.0s`);
    expect(formatOutcome('rollback', done, null)).toBe(`rolled back in 1.0s: switched to ${SHOWN}`);
    const failed = formatOutcome(
      'deploy',
      { ...done, ok: false, message: `replica-1 on ${RED}: exited\n\x1b[5mPHP Parse error` },
      RED,
    );
    expectNoControls(failed);
    expect(failed).toBe(
      `deploy failed after 1.0s: replica-1 on ${SHOWN}: exited\n  \\x1b[5mPHP Parse error`,
    );
  });

  it('a deploy record’s release, message and time (a hand-edited history file)', () => {
    const text = formatDeployRecord(
      sampleDeployRecord({ trigger: 'rollback', release: RED, startedAt: '\x1b[8m', message: RED }),
    );
    expectNoControls(text);
    expect(text).toBe(`rollback to ${SHOWN_NAME}  ok  \\x1b[8m  took 12.3s  ${SHOWN}`);
  });
});
