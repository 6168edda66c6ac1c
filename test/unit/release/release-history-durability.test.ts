import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeployRecord } from '../../../src/control/messages.js';
import { HISTORY_FILE, ReleaseHistory } from '../../../src/release/release-history.js';
import { makeTempDir } from '../../support/temp-dir.js';

// What reaches the disk, and in which order: node:fs is wrapped to note each fsync (by the
// path its descriptor names) and rename, and to fail a write on demand (a full disk).

const fsLog = vi.hoisted(() => ({ calls: [] as string[], failWrites: false }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const enospc = () =>
    Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const wrapped = {
    ...fs,
    fsyncSync: (fd: number) => {
      fsLog.calls.push(`fsync ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`);
      fs.fsyncSync(fd);
    },
    renameSync: (from: string, to: string) => {
      fsLog.calls.push(`rename ${from} ${to}`);
      fs.renameSync(from, to);
    },
    writeSync: (...args: Parameters<typeof fs.writeSync>) => {
      if (fsLog.failWrites) throw enospc();
      return fs.writeSync(...args);
    },
    writeFileSync: (...args: Parameters<typeof fs.writeFileSync>) => {
      if (fsLog.failWrites) throw enospc();
      fs.writeFileSync(...args);
    },
  };
  return { ...wrapped, default: wrapped };
});

const temp = makeTempDir('history-sync');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);

function deploy(release: string): DeployRecord {
  return {
    trigger: 'deploy',
    release,
    previous: '/srv/app/releases/1',
    ok: true,
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 10,
    message: `switched to ${release}`,
  };
}

beforeEach(() => {
  fsLog.calls.length = 0;
  fsLog.failWrites = false;
});

describe('ReleaseHistory on disk', () => {
  it('fsyncs the new file before renaming it into place, then fsyncs the directory', () => {
    const dir = join(base, 'synced');
    const history = ReleaseHistory.load(dir);
    expect(history.record(deploy('/srv/app/releases/2'))).toEqual({ saved: true });

    const file = join(dir, HISTORY_FILE);
    const [syncFile, rename, syncDir, ...rest] = fsLog.calls;
    expect(rest).toEqual([]);
    const temp = /^fsync (.+\.tmp)$/.exec(syncFile ?? '')?.[1];
    expect(temp, `first call: ${syncFile}`).toBeDefined();
    expect(temp?.startsWith(`${file}.`)).toBe(true);
    expect(rename).toBe(`rename ${temp} ${file}`);
    expect(syncDir).toBe(`fsync ${dir}`);
    expect(JSON.parse(readFileSync(file, 'utf8')).records).toEqual([deploy('/srv/app/releases/2')]);
  });

  it('a full disk: the record says why it is not saved, the log says it, the old file stays whole', () => {
    const dir = join(base, 'full');
    const first = ReleaseHistory.load(dir);
    first.record(deploy('/srv/app/releases/2'));
    const before = readFileSync(join(dir, HISTORY_FILE), 'utf8');

    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const history = ReleaseHistory.load(dir, logger);
    fsLog.failWrites = true;
    const outcome = history.record(deploy('/srv/app/releases/3'));

    expect(outcome).toEqual({
      saved: false,
      reason: `ENOSPC: no space left on device (${join(dir, HISTORY_FILE)})`,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: expect.stringContaining('cannot save the release history: ENOSPC'),
      }),
    );
    // Kept in memory: rollback still knows it until the daemon stops.
    expect(history.last()?.release).toBe('/srv/app/releases/3');
    fsLog.failWrites = false;
    expect(readFileSync(join(dir, HISTORY_FILE), 'utf8')).toBe(before);
    // No temp file left behind on the full disk.
    expect(readdirSync(dir)).toEqual([HISTORY_FILE]);
  });
});
