import { describe, expect, it } from 'vitest';
import { formatEvent, formatStatus, formatSurgeStatus } from '../../../src/cli/status-format.js';
import type { SurgeStatus } from '../../../src/supervisor/surge-chooser.js';
import { sampleStatus } from '../../support/control-fixtures.js';

const DECIDED_AT = '2026-03-01T10:00:00.000Z';

const auto = (surge: boolean, message: string): SurgeStatus => ({
  setting: 'auto',
  last: { surge, reason: '…', change: 'switch', message, decidedAt: DECIDED_AT },
});

describe('surge in status and progress', () => {
  it('shows the setting and what the last switch decided, with its age', () => {
    const surge = auto(
      true,
      'surge: yes (needs 412 MiB for 2 more replicas and a 256 MiB margin, 9.8 GiB available)',
    );
    const lines = formatStatus({ ...sampleStatus(), surge }, Date.parse(DECIDED_AT) + 192_000)
      .split('\n')
      .filter((line) => line.startsWith('surge'));
    expect(lines).toEqual([
      'surge    auto; at the last switch (3m12s ago): surge: yes (needs 412 MiB for 2 more replicas and a 256 MiB margin, 9.8 GiB available)',
    ]);
  });

  it('says when nothing was decided yet, and shows true and false as they are', () => {
    expect(formatSurgeStatus({ setting: 'auto', last: null })).toBe(
      'auto; decided when a switch or restart starts',
    );
    expect(
      formatSurgeStatus({
        setting: false,
        last: {
          surge: false,
          reason: 'replicas.surge = false',
          change: 'restart',
          message: 'surge: no (replicas.surge = false): one replica restarts at a time',
          decidedAt: DECIDED_AT,
        },
      }),
    ).toBe(
      `false; at the last restart (${DECIDED_AT}): surge: no (replicas.surge = false): one replica restarts at a time`,
    );
  });

  it('leaves the line out for daemons that do not report it (external replicas, older daemons)', () => {
    expect(formatStatus({ ...sampleStatus(), surge: null })).not.toContain('\nsurge');
    expect(formatStatus(sampleStatus())).not.toContain('\nsurge');
  });

  it('prints the surge progress line as the daemon wrote it, control characters escaped', () => {
    const message =
      'surge: no (needs 412 MiB, 180 MiB available): half the replicas switch at a time';
    expect(formatEvent({ kind: 'surge', surge: false, reason: '…', message })).toBe(message);
    expect(
      formatEvent({ kind: 'surge', surge: true, reason: '…', message: 'surge: yes (\x1b[31m)' }),
    ).toBe('surge: yes (\\x1b[31m)');
  });
});
