import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeployRecord } from '../../../src/control/messages.js';
import { HISTORY_FILE, MAX_RECORDS, ReleaseHistory } from '../../../src/release/release-history.js';
import { makeTempDir } from '../../support/temp-dir.js';

const temp = makeTempDir('history');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);
const releases = join(base, 'releases');
const [A, B, C] = ['a', 'b', 'c'].map((name) => join(releases, name)) as [string, string, string];
for (const dir of [A, B, C]) mkdirSync(dir, { recursive: true });

let counter = 0;
/** A state directory that does not exist yet. */
function stateDir(): string {
  counter += 1;
  return join(base, `state${counter}`, 'switchyard');
}

function record(
  trigger: DeployRecord['trigger'],
  previous: string,
  release: string,
  ok = true,
): DeployRecord {
  return {
    trigger,
    release,
    previous,
    ok,
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 1234,
    message: ok ? `switched to ${release}` : 'replica-1 failed its health check',
  };
}

/** A pino logger whose lines are collected, parsed. */
function capturingLogger(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

describe('ReleaseHistory', () => {
  it('starts empty without a file, and creates the state directory on the first record', () => {
    const dir = stateDir();
    const history = ReleaseHistory.load(dir);
    expect(history.entries()).toEqual([]);
    expect(history.last()).toBeNull();
    expect(history.rollbackTarget(A)).toBeNull();

    history.record(record('deploy', A, B));
    expect(readdirSync(dir)).toEqual([HISTORY_FILE]);
    expect(JSON.parse(readFileSync(join(dir, HISTORY_FILE), 'utf8'))).toEqual({
      version: 1,
      records: [record('deploy', A, B)],
    });
  });

  it('keeps its records across instances', () => {
    const dir = stateDir();
    const first = ReleaseHistory.load(dir);
    first.record(record('deploy', A, B));
    first.record(record('symlink', B, C));
    const second = ReleaseHistory.load(dir);
    expect(second.entries()).toEqual([record('deploy', A, B), record('symlink', B, C)]);
    expect(second.last()).toEqual(record('symlink', B, C));
  });

  it(`keeps only the last ${MAX_RECORDS} records`, () => {
    const dir = stateDir();
    const history = ReleaseHistory.load(dir);
    const all = Array.from({ length: MAX_RECORDS + 5 }, (_, index) =>
      record('deploy', index % 2 === 0 ? A : B, index % 2 === 0 ? B : A),
    ).map((entry, index) => ({ ...entry, durationMs: index }));
    for (const entry of all) history.record(entry);
    expect(history.entries()).toEqual(all.slice(-MAX_RECORDS));
    expect(ReleaseHistory.load(dir).entries()).toEqual(all.slice(-MAX_RECORDS));
    expect(history.last()?.durationMs).toBe(MAX_RECORDS + 4);
  });

  it('hands out records that cannot be changed behind its back', () => {
    const history = ReleaseHistory.load(stateDir());
    history.record(record('deploy', A, B));
    expect(() => {
      (history.entries() as DeployRecord[]).push(record('deploy', B, C));
    }).toThrow(TypeError);
    expect(() => {
      (history.last() as { ok: boolean }).ok = false;
    }).toThrow(TypeError);
  });

  it.each([
    ['not JSON', '{"version": 1, "records": ['],
    ['JSON of another shape', '[{"release": "/srv/app/releases/1"}]'],
    ['a record missing a field', JSON.stringify({ version: 1, records: [{ trigger: 'deploy' }] })],
    ['a newer format', JSON.stringify({ version: 2, records: [] })],
  ])('logs a file that is %s and starts empty', (_what, text) => {
    const dir = stateDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, HISTORY_FILE), text);
    const { logger, lines } = capturingLogger();
    const history = ReleaseHistory.load(dir, logger);
    expect(history.entries()).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe(40);
    expect(lines[0]?.msg).toContain(`the release history ${join(dir, HISTORY_FILE)} is not`);
    // And the next record replaces it with a valid file.
    history.record(record('deploy', A, B));
    expect(ReleaseHistory.load(dir).entries()).toEqual([record('deploy', A, B)]);
  });

  it('logs an unreadable file and starts empty', () => {
    const dir = stateDir();
    // A directory where the file should be: reading it fails with EISDIR, even as root.
    mkdirSync(join(dir, HISTORY_FILE), { recursive: true });
    const { logger, lines } = capturingLogger();
    const history = ReleaseHistory.load(dir, logger);
    expect(history.entries()).toEqual([]);
    expect(lines.map((line) => line.msg)).toEqual([
      'cannot read the release history: EISDIR: illegal operation on a directory; starting with an empty one',
    ]);
  });

  it('keeps a record in memory and logs when the file cannot be written', () => {
    const dir = stateDir();
    mkdirSync(join(dir, HISTORY_FILE), { recursive: true });
    const { logger, lines } = capturingLogger();
    const history = ReleaseHistory.load(dir, logger);
    history.record(record('deploy', A, B));
    expect(history.last()).toEqual(record('deploy', A, B));
    expect(history.rollbackTarget(B)).toBe(A);
    expect(lines.at(-1)?.level).toBe(50);
    expect(lines.at(-1)?.msg).toMatch(/^cannot save the release history: /);
    // No temporary file left behind.
    expect(readdirSync(dir)).toEqual([HISTORY_FILE]);
  });

  describe('rollbackTarget', () => {
    it('goes back to the release before the last switch, and a second rollback undoes the first', () => {
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', A, B));
      expect(history.rollbackTarget(B)).toBe(A);
      history.record(record('rollback', B, A));
      expect(history.rollbackTarget(A)).toBe(B);
      history.record(record('rollback', A, B));
      expect(history.rollbackTarget(B)).toBe(A);
    });

    it('follows switches of every trigger', () => {
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', A, B));
      history.record(record('symlink', B, C));
      expect(history.rollbackTarget(C)).toBe(B);
    });

    it('skips failed switches: their release never served', () => {
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', A, B));
      history.record(record('deploy', B, C, false));
      expect(history.rollbackTarget(B)).toBe(A);
      expect(history.rollbackTarget(C)).toBeNull();
    });

    it('skips a forced redeploy of the same release', () => {
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', A, B));
      history.record(record('deploy', B, B));
      expect(history.rollbackTarget(B)).toBe(A);
    });

    it('is null for a release no switch went to', () => {
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', A, B));
      expect(history.rollbackTarget(A)).toBeNull();
      expect(history.rollbackTarget(C)).toBeNull();
    });

    it('is null when the earlier release has been removed', () => {
      const gone = join(releases, 'gone');
      mkdirSync(gone);
      const history = ReleaseHistory.load(stateDir());
      history.record(record('deploy', gone, C));
      expect(history.rollbackTarget(C)).toBe(gone);
      rmSync(gone, { recursive: true });
      expect(history.rollbackTarget(C)).toBeNull();
    });

    it('works from the saved file after a restart', () => {
      const dir = stateDir();
      ReleaseHistory.load(dir).record(record('deploy', A, B));
      expect(ReleaseHistory.load(dir).rollbackTarget(B)).toBe(A);
    });
  });
});
