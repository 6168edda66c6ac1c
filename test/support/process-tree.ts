import { readdirSync, readFileSync } from 'node:fs';

interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
}

/** Every live process on the machine, from /proc (zombies excluded: they are already dead). */
export function listProcesses(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0] ?? '';
    if (state === 'Z' || state === 'X') continue;
    entries.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]), state });
  }
  return entries;
}

/** The given pids that still run, plus any process in their process groups (orphaned children). */
export function survivors(pids: readonly number[]): number[] {
  const wanted = new Set(pids);
  return listProcesses()
    .filter((entry) => wanted.has(entry.pid) || wanted.has(entry.pgid))
    .map((entry) => entry.pid);
}

/** Descendants of `pid` (children, grandchildren, …) that are alive now. */
export function descendants(pid: number): number[] {
  const all = listProcesses();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const entry of all) {
      if (entry.ppid === parent) {
        found.push(entry.pid);
        queue.push(entry.pid);
      }
    }
  }
  return found;
}
