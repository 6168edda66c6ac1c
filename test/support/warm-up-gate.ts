import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SwitchyardProcess } from './switchyard-process.js';
import { waitFor } from './wait-for.js';

/** A warm-up held on one release until the test lets it go. */
export interface HeldWarmUp {
  /**
   * Waits until a replica of the release is held in its warm-up (since the hold began): the
   * switch to it is then under way and cannot reach its cut-over.
   */
  reached(timeoutMs?: number): Promise<void>;
  /** Lets the held warm-up, and every later one of the release, answer. */
  letGo(): void;
}

/**
 * A release of fixtures/php holds the warm-up request `/gate.php` while it has a `.gate` file:
 * with `[deploy] warmup = ["/gate.php"]`, a switch to it stays before its cut-over for as long
 * as a test needs, instead of for a guessed time. gate.php says so on the worker's stderr, which
 * the daemon logs as a JSON line (so the release path is followed by the closing quote).
 */
export function holdWarmUp(switchyard: SwitchyardProcess, release: string): HeldWarmUp {
  const gate = join(release, '.gate');
  writeFileSync(gate, '');
  const from = switchyard.stdout().length;
  const held = (line: string) =>
    line.includes('gate.php: holding the warm-up of ') && line.includes(` in ${release}"`);
  return {
    reached: async (timeoutMs = 30_000) => {
      await waitFor(() => switchyard.stdout().slice(from).split('\n').some(held), {
        timeoutMs,
        what: `a replica of ${release} to be held in its warm-up`,
      });
    },
    letGo: () => rmSync(gate, { force: true }),
  };
}
