import { closeSync, writeSync } from 'node:fs';

/** The one line a successor writes to its predecessor's pipe: ready, or why it is not. */
export type HandoverReport =
  | { readonly ok: true; readonly pid: number }
  | { readonly ok: false; readonly pid: number; readonly message: string };

/** The longest report read: the why of a failed start, with a worker's output tail. */
export const MAX_REPORT_BYTES = 64 * 1024;

/**
 * Writes the report to the pipe `fd` and closes it; a predecessor that is gone is no error
 * (it may have been stopped meanwhile). Written once: the pipe closes after it.
 */
export function writeHandoverReport(fd: number, report: HandoverReport): void {
  const text = `${JSON.stringify(report)}\n`.slice(0, MAX_REPORT_BYTES);
  try {
    writeSync(fd, text);
  } catch {}
  try {
    closeSync(fd);
  } catch {}
}

/** Parses a report line; anything else is null. */
export function parseHandoverReport(line: string): HandoverReport | null {
  try {
    const value = JSON.parse(line) as Partial<{ ok: unknown; pid: unknown; message: unknown }>;
    if (typeof value.pid !== 'number') return null;
    if (value.ok === true) return { ok: true, pid: value.pid };
    if (value.ok === false && typeof value.message === 'string') {
      return { ok: false, pid: value.pid, message: value.message };
    }
    return null;
  } catch {
    return null;
  }
}
