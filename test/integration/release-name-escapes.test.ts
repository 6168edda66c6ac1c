import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '../../src/control/messages.js';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';

// A release directory named with terminal escape sequences, deployed to a real daemon: every
// command prints the name escaped, and `status --json` passes it on exactly.

let daemon: ManagedDaemon | null = null;
const keep = stopAfterEach();

/** Red text, a window title and a bidi override: what a hostile release name could carry. */
const NAME = 'two\x1b[31mred\x1b]0;owned\x07\u202e';
const SHOWN = 'two\\x1b[31mred\\x1b]0;owned\\x07\\u{202e}';

function expectPrintable(what: string, text: string): void {
  expect(text, `${what} printed a control character: ${JSON.stringify(text)}`).not.toMatch(
    /[^\P{Cc}\n]|\u202e/u,
  );
}

describe('release names with control characters', () => {
  it('deploy, restart, status and rollback print them escaped; --json keeps them exact', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'escapes',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
      }),
    );
    const first = daemon.release;
    const hostile = daemon.addRelease(NAME, demoRelease('v2'));
    const shownPath = hostile.replace(NAME, SHOWN);

    const deploy = await daemon.cli(['deploy', hostile]);
    expect(deploy.code, deploy.stderr).toBe(0);
    expectPrintable('deploy', deploy.stdout + deploy.stderr);
    expect(deploy.stdout).toContain(`cut-over  new requests now go to ${shownPath}`);
    expect(deploy.stdout).toContain(`deployed ${shownPath} in `);

    const restart = await daemon.cli(['restart']);
    expect(restart.code, restart.stderr).toBe(0);
    expectPrintable('restart', restart.stdout + restart.stderr);
    expect(restart.stdout).toMatch(new RegExp(`^replica-1 .*${escapeRegExp(SHOWN)}`, 'm'));

    const status = await daemon.cli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expectPrintable('status', status.stdout + status.stderr);
    expect(status.stdout).toContain(`serving  ${shownPath}  (`);
    expect(status.stdout).toContain(`last     deploy of ${SHOWN}  ok`);

    const json = await daemon.cli(['status', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout) as DaemonStatus;
    expect(answer.servingRelease).toBe(hostile);
    expect(answer.replicas.map((replica) => replica.release)).toEqual([hostile, hostile]);

    const rollback = await daemon.cli(['rollback']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expectPrintable('rollback', rollback.stdout + rollback.stderr);
    expect(rollback.stdout).toContain(`(was …/${SHOWN})`);
    expect(rollback.stdout).toContain(`rolled back to ${first} in `);

    // A refused target is quoted in the daemon's reason: escaped as well.
    const refused = await daemon.cli(['deploy', `${hostile}-missing`]);
    expect(refused.code).toBe(1);
    expectPrintable('refused deploy', refused.stdout + refused.stderr);
    expect(refused.stderr).toContain(`${shownPath}-missing`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
