import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

// A full paths.state (a 64 KiB tmpfs filled up): a deploy switches the release but cannot
// record it, and must say so rather than exit 0 with the history silently unwritten.

let daemon: ManagedDaemon | null = null;
let disk: Tmpfs | undefined;

afterEach(async () => {
  // The daemon first: it must not hold the tmpfs; then the mount, before its directory goes.
  try {
    if (daemon !== null) await stopDaemon(daemon);
  } finally {
    disk?.unmount();
    disk = undefined;
    await daemon?.cleanup();
    daemon = null;
  }
});

async function stopDaemon(running: ManagedDaemon): Promise<void> {
  const { child, exited } = running.switchyard;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await exited;
  }
}

/** Fills the file system at `dir` until a write fails with ENOSPC. */
function fill(dir: string): void {
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(1024 * 1024, 1));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
    throw error;
  }
  throw new Error(`${dir} took 1 MiB: it is not the small tmpfs`);
}

describe('a full state disk', () => {
  it('deploy switches but exits 1 saying the history is not recorded; the daemon logs it', async (context) => {
    daemon = await startManagedDaemon({
      label: 'state-full',
      replicas: DEMO_APP_REPLICAS(2, 2),
      releaseSource: demoRelease('v1'),
    });
    const state = join(daemon.dir, 'state');
    mkdirSync(state, { recursive: true });
    disk = mountTmpfs(state, '64k');
    if (disk === undefined) {
      context.skip();
      return;
    }
    fill(state);
    const first = daemon.release;
    const second = daemon.addRelease('two', demoRelease('v2'));

    const result = await daemon.cli(['deploy', second]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toContain(`cut-over  new requests now go to ${second}`);
    expect(result.stderr).toMatch(
      new RegExp(
        `^switchyard: deployed ${second} in [\\d.]+s, but the release history could not be saved: ENOSPC`,
      ),
    );
    expect(result.stderr).toContain('`switchyard rollback` will not know this switch');
    expect(daemon.switchyard.stdout()).toContain('cannot save the release history: ENOSPC');

    // The release did switch, and the daemon still knows where to go back to (in memory).
    const status = await daemon.status();
    expect(status.servingRelease).toBe(second);
    expect(status.lastDeploy).toMatchObject({ release: second, previous: first, ok: true });
    expect(status.rollbackTarget).toBe(first);

    // With room again, the next switch is recorded, with the one that could not be.
    rmSync(join(state, 'filler'));
    const rollback = await daemon.cli(['rollback']);
    expect(rollback.code, rollback.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(state, 'releases.json'), 'utf8')) as {
      records: { trigger: string; release: string }[];
    };
    expect(saved.records.map((record) => [record.trigger, record.release])).toEqual([
      ['deploy', second],
      ['rollback', first],
    ]);
  });
});
