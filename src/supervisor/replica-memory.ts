import { readdir, readFile } from 'node:fs/promises';

/** Processes read at once while measuring: a host may run thousands. */
const READ_BATCH = 32;

/** `Pss:` of /proc/<pid>/smaps_rollup, in bytes; null when the text has none. */
export function pssBytes(smapsRollup: string): number | null {
  const match = /^Pss:\s+(\d+) kB$/m.exec(smapsRollup);
  return match === null ? null : Number(match[1]) * 1024;
}

/** `VmRSS:` of /proc/<pid>/status, in bytes; null when the text has none (a zombie). */
export function rssBytes(status: string): number | null {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match === null ? null : Number(match[1]) * 1024;
}

/** The process group in /proc/<pid>/stat; null for a zombie or text that is not a stat line. */
export function processGroupOf(stat: string): number | null {
  // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses: cut at the last ')'.
  const close = stat.lastIndexOf(')');
  if (close === -1) return null;
  const [state, , pgrp] = stat.slice(close + 2).split(' ');
  if (state === undefined || state === 'Z' || state === 'X') return null;
  const group = Number(pgrp);
  return Number.isSafeInteger(group) && group > 0 ? group : null;
}

/**
 * One process's share of memory: its Pss (shared pages split among the processes sharing
 * them, so php-fpm children are not each charged for the whole opcache), or its Rss when
 * smaps_rollup is not ours to read; 0 once it is gone.
 */
export async function processBytes(pid: number, proc = '/proc'): Promise<number> {
  try {
    const pss = pssBytes(await readFile(`${proc}/${pid}/smaps_rollup`, 'latin1'));
    if (pss !== null) return pss;
  } catch {}
  try {
    return rssBytes(await readFile(`${proc}/${pid}/status`, 'latin1')) ?? 0;
  } catch {
    return 0;
  }
}

/**
 * What each replica takes now: the memory of every live process in the process groups of the
 * pids switchyard started for it (each the leader of its own group), so a php-fpm master is
 * counted with its children and a command with whatever it forked. `replicas[i]` are replica
 * i's pids; the result has one total per replica.
 */
export async function measureReplicas(
  replicas: readonly (readonly number[])[],
  proc = '/proc',
): Promise<number[]> {
  const owners = new Map<number, number>();
  replicas.forEach((pids, index) => {
    for (const pid of pids) owners.set(pid, index);
  });
  const totals = replicas.map(() => 0);
  if (owners.size === 0) return totals;
  const pids = (await readdir(proc)).filter((entry) => /^\d+$/.test(entry));
  for (let start = 0; start < pids.length; start += READ_BATCH) {
    await Promise.all(
      pids.slice(start, start + READ_BATCH).map(async (entry) => {
        let stat: string;
        try {
          stat = await readFile(`${proc}/${entry}/stat`, 'latin1');
        } catch {
          return; // gone meanwhile
        }
        const group = processGroupOf(stat);
        const owner = group === null ? undefined : owners.get(group);
        if (owner === undefined) return;
        const bytes = await processBytes(Number(entry), proc);
        totals[owner] = (totals[owner] ?? 0) + bytes;
      }),
    );
  }
  return totals;
}
