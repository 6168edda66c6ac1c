import { readFileSync, writeFileSync } from 'node:fs';

export const MiB = 1024 * 1024;

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  if (match === null) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** Resident memory of `pid` now, in bytes. */
export function rss(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/**
 * Starts measuring `pid`'s peak resident memory from now: the kernel's high-water mark is
 * reset to the current RSS (clear_refs 5), so a start-up peak does not count. Returns the
 * RSS at that moment, the baseline to compare `peakRss` with.
 */
export function startPeakRss(pid: number): number {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  return rss(pid);
}

/** Peak resident memory of `pid` since `startPeakRss`, in bytes. */
export function peakRss(pid: number): number {
  return statusField(pid, 'VmHWM');
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
