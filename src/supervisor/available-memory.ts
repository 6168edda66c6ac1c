import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AvailableMemory } from './surge-decision.js';

/** `MemAvailable:` of /proc/meminfo, in bytes; null when the text has none. */
export function memAvailableBytes(meminfo: string): number | null {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  return match === null ? null : Number(match[1]) * 1024;
}

/** This process's cgroup v2 path (the `0::` line of /proc/self/cgroup), or null without one. */
export function cgroupV2Path(procSelfCgroup: string): string | null {
  for (const line of procSelfCgroup.split('\n')) {
    if (line.startsWith('0::/')) return line.slice(3);
  }
  return null;
}

export interface CgroupMount {
  /** The cgroup shown at the mount point (`/` unless a subtree was mounted). */
  readonly root: string;
  readonly mountPoint: string;
}

/** The cgroup2 file system in /proc/self/mountinfo, or null when none is mounted. */
export function cgroup2Mount(mountinfo: string): CgroupMount | null {
  for (const line of mountinfo.split('\n')) {
    // id parent dev root mountpoint options [optional…] - fstype source super-options
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 5 || fields[separator + 1] !== 'cgroup2') continue;
    return {
      root: unescapeMountField(fields[3] ?? ''),
      mountPoint: unescapeMountField(fields[4] ?? ''),
    };
  }
  return null;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** memory.max in bytes; null for `max` (no limit). */
export function cgroupLimitBytes(memoryMax: string): number | null {
  const text = memoryMax.trim();
  if (text === 'max' || !/^\d+$/.test(text)) return null;
  return Number(text);
}

/** `inactive_file` of a cgroup's memory.stat, in bytes; 0 when the text has none. */
export function inactiveFileBytes(memoryStat: string): number {
  const match = /^inactive_file (\d+)$/m.exec(memoryStat);
  return match === null ? 0 : Number(match[1]);
}

/**
 * The directories of this process's cgroup and of each ancestor up to the mount point: a
 * limit on any of them (a systemd slice, a container) bounds what the replicas may take.
 * Empty when the cgroup lies outside the mounted subtree.
 */
export function cgroupDirectories(mount: CgroupMount, path: string): string[] {
  const root = mount.root === '/' ? '' : mount.root;
  if (path !== root && !path.startsWith(`${root}/`) && root !== '') return [];
  const top = join(mount.mountPoint, '.');
  const relative = path.slice(root.length).replace(/^\/+|\/+$/g, '');
  const directories: string[] = [];
  let directory = relative === '' ? top : join(top, relative);
  for (;;) {
    directories.push(directory);
    if (directory === top || !directory.startsWith(top)) break;
    directory = dirname(directory);
  }
  return directories;
}

/**
 * The tightest cgroup headroom above this process, or null: memory.max less what the cgroup
 * holds (memory.current) but for its inactive page cache, which the kernel reclaims before it
 * refuses memory (a release read once, logs written); memory.current alone counts it, and a
 * long-running service's cgroup sits near its limit with it.
 */
async function cgroupHeadroom(proc: string): Promise<number | null> {
  let mount: CgroupMount | null;
  let path: string | null;
  try {
    mount = cgroup2Mount(await readFile(`${proc}/self/mountinfo`, 'utf8'));
    path = cgroupV2Path(await readFile(`${proc}/self/cgroup`, 'utf8'));
  } catch {
    return null; // no /proc/self of this kind: the host's figure stands
  }
  if (mount === null || path === null) return null;
  let tightest: number | null = null;
  for (const directory of cgroupDirectories(mount, path)) {
    let limit: number | null;
    let current: number;
    try {
      limit = cgroupLimitBytes(await readFile(join(directory, 'memory.max'), 'utf8'));
      if (limit === null) continue;
      current = Number((await readFile(join(directory, 'memory.current'), 'utf8')).trim());
    } catch {
      continue; // no memory controller here (the root cgroup has neither file)
    }
    if (!Number.isFinite(current)) continue;
    let reclaimable = 0;
    try {
      reclaimable = inactiveFileBytes(await readFile(join(directory, 'memory.stat'), 'utf8'));
    } catch {
      // Without memory.stat, memory.current as it is: less than could be had, never more.
    }
    const headroom = Math.max(0, limit - Math.max(0, current - reclaimable));
    if (tightest === null || headroom < tightest) tightest = headroom;
  }
  return tightest;
}

/**
 * Memory new replicas could take now: the host's MemAvailable, or less when the daemon runs
 * in a cgroup (v2) whose limit is closer. Rejects when /proc/meminfo cannot be read.
 */
export async function readAvailableMemory(proc = '/proc'): Promise<AvailableMemory> {
  const host = memAvailableBytes(await readFile(`${proc}/meminfo`, 'utf8'));
  if (host === null) throw new Error(`${proc}/meminfo has no MemAvailable`);
  const cgroup = await cgroupHeadroom(proc);
  return cgroup !== null && cgroup < host
    ? { bytes: cgroup, limitedBy: 'cgroup' }
    : { bytes: host, limitedBy: 'host' };
}
