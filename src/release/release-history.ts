import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeFsError } from '../config/fs-error.js';
import type { DeployRecord } from '../control/messages.js';
import { isDirectory } from '../directory-presence.js';
import { silentLogger } from '../log.js';
import { writeFileDurably } from './durable-write.js';

/** The file in paths.state. */
export const HISTORY_FILE = 'releases.json';
/** Enough to roll back several times and to see recent deploys in `status`; small to rewrite. */
export const MAX_RECORDS = 20;

const recordSchema = z.object({
  trigger: z.enum(['deploy', 'rollback', 'symlink', 'recovery']),
  release: z.string(),
  previous: z.string(),
  ok: z.boolean(),
  startedAt: z.string(),
  durationMs: z.number(),
  message: z.string(),
});

/** Versioned, so a later format can tell an old file from a corrupt one. */
const fileSchema = z.object({
  version: z.literal(1),
  records: z.array(recordSchema),
});

/** Whether a switch reached the file: the daemon keeps it in memory either way. */
export type RecordOutcome =
  | { readonly saved: true }
  | {
      readonly saved: false;
      /** "ENOSPC: no space left on device (/var/lib/switchyard/releases.json)". */
      readonly reason: string;
    };

/**
 * The daemon's record of release switches, oldest first, kept in `<stateDir>/releases.json` so
 * that `switchyard rollback` still knows where to go back to after the daemon restarts. The
 * history is a convenience: a file that cannot be read or written is logged and the daemon
 * carries on (with an empty history, or with one only in memory).
 */
export class ReleaseHistory {
  readonly #path: string;
  readonly #logger: Logger;
  #records: readonly DeployRecord[];

  private constructor(path: string, records: readonly DeployRecord[], logger: Logger) {
    this.#path = path;
    this.#records = records;
    this.#logger = logger;
  }

  /** Reads `<stateDir>/releases.json`; a missing file is an empty history, so is a corrupt one. */
  static load(stateDir: string, logger: Logger = silentLogger()): ReleaseHistory {
    const path = join(stateDir, HISTORY_FILE);
    return new ReleaseHistory(path, readRecords(path, logger), logger);
  }

  /**
   * Appends a switch and rewrites the file durably, keeping the last MAX_RECORDS. Never
   * throws: a file that cannot be written (a full state disk) is logged and returned, so the
   * caller can tell whoever asked for the switch that it is not recorded.
   */
  record(entry: DeployRecord): RecordOutcome {
    this.#records = Object.freeze(
      [...this.#records, Object.freeze({ ...entry })].slice(-MAX_RECORDS),
    );
    try {
      writeFileDurably(
        this.#path,
        `${JSON.stringify({ version: 1, records: this.#records }, null, 2)}\n`,
      );
      return { saved: true };
    } catch (error) {
      // The switch has happened; losing its record matters after a restart (rollback, and
      // the last good release a broken start falls back on).
      const reason = `${describeFsError(error)} (${this.#path})`;
      this.#logger.error(
        { file: this.#path, err: error, release: entry.release },
        `cannot save the release history: ${reason}; the switch to ${entry.release} is kept in memory only, and a restarted daemon will not know it`,
      );
      return { saved: false, reason };
    }
  }

  /** The most recent switch, or null before the first. */
  last(): DeployRecord | null {
    return this.#records.at(-1) ?? null;
  }

  /** Every kept switch, oldest first. */
  entries(): readonly DeployRecord[] {
    return this.#records;
  }

  /**
   * Where `switchyard rollback` goes from `current`: the release served before the most recent
   * successful switch to `current`. After a rollback B→A, the newest switch to A is that
   * rollback, whose previous is B: a second rollback undoes the first. Failed switches never
   * served their release, and a forced redeploy (previous = release) is not a way back, so both
   * are skipped. Null when there is no such switch or its directory has since been removed.
   */
  rollbackTarget(current: string): string | null {
    for (let index = this.#records.length - 1; index >= 0; index -= 1) {
      const entry = this.#records[index];
      if (entry === undefined || !entry.ok || entry.release !== current) continue;
      // A recovery's previous is the release that did not start: no way back to go.
      if (entry.previous === entry.release || entry.trigger === 'recovery') continue;
      return isDirectory(entry.previous) ? entry.previous : null;
    }
    return null;
  }
}

function readRecords(path: string, logger: Logger): readonly DeployRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    logger.warn(
      { file: path, err: error },
      `cannot read the release history: ${describeFsError(error)}; starting with an empty one`,
    );
    return [];
  }
  let reason: string;
  try {
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      return Object.freeze(
        parsed.data.records.slice(-MAX_RECORDS).map((entry) => Object.freeze(entry)),
      );
    }
    reason = `not a release history (${parsed.error.issues[0]?.message ?? 'invalid'})`;
  } catch (error) {
    reason = `not JSON (${(error as Error).message})`;
  }
  // The next switch overwrites the file, which loses only what could not be read anyway.
  logger.warn(
    { file: path },
    `the release history ${path} is ${reason}; starting with an empty one (rollback needs a new deploy first)`,
  );
  return [];
}
