// Parsers for the human-written values in the config file. They throw a plain Error whose
// message is a reason (value included, with examples); the schema names the key.

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
type DurationUnit = keyof typeof DURATION_UNITS_MS;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_EXAMPLES = 'use e.g. 500ms, 5s, 2m';

/** setTimeout fires at once (with a warning) for delays above 2^31-1 ms, about 24.8 days. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * `250ms`, `5s`, `1.5s`, `2m`, `1h` → milliseconds. A unit is required (except for `0`): a bare
 * `5` could mean seconds to one reader and milliseconds to another.
 */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const match = DURATION.exec(text);
  if (match === null) {
    const hint = /^\d+(?:\.\d+)?$/.test(text) ? 'has no unit' : 'is not a duration';
    throw new Error(`${JSON.stringify(text)} ${hint}: ${DURATION_EXAMPLES}`);
  }
  const exact = Number(match[1]) * DURATION_UNITS_MS[match[2] as DurationUnit];
  const ms = Math.round(exact);
  // Compare with a tolerance: 0.1h is 360000.00000000006 in floating point.
  if (Math.abs(exact - ms) > 1e-6) {
    throw new Error(`${JSON.stringify(text)} is not a whole number of milliseconds`);
  }
  if (ms > MAX_DURATION_MS) {
    throw new Error(`${JSON.stringify(text)} is too long: the limit is about 24 days`);
  }
  return ms;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
const SIZE = /^(\d+(?:\.\d+)?) ?([a-z]*)$/i;
const SIZE_EXAMPLES =
  'use e.g. 512, 64KiB, 1MiB (KiB, MiB, GiB count in 1024s; KB, MB, GB in 1000s)';

/** A byte count: an integer, or a string such as `512`, `64KiB`, `1MiB`, `2GiB`, `1KB`, `1MB`. */
export function parseByteSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) {
      throw new Error(`${text} is not a whole number of bytes: ${SIZE_EXAMPLES}`);
    }
    return text;
  }
  const match = SIZE.exec(text);
  const factor = match === null ? undefined : SIZE_UNITS[(match[2] ?? '').toLowerCase()];
  if (match === null || factor === undefined) {
    throw new Error(`${JSON.stringify(text)} is not a size: ${SIZE_EXAMPLES}`);
  }
  const bytes = Number(match[1]) * factor;
  if (!Number.isSafeInteger(bytes)) {
    throw new Error(`${JSON.stringify(text)} is not a whole number of bytes: ${SIZE_EXAMPLES}`);
  }
  return bytes;
}

const FILE_MODE = /^0?[0-7]{3}$/;

/** A unix permission mode written in octal, `0660` or `660`. */
export function parseFileMode(text: string): number {
  if (!FILE_MODE.test(text)) {
    throw new Error(`${JSON.stringify(text)} is not a file mode: use octal digits, e.g. "0660"`);
  }
  return Number.parseInt(text, 8);
}
