import { readdirSync, readFileSync } from 'node:fs';

/** After SIGKILL: the wait for the kernel to tear the processes down before giving up on them. */
export const KILL_WAIT_MS = 5_000;

/**
 * A process switchyard started as the leader of its own process group (spawned `detached`, so
 * pgid = pid), together with everything it forked into that group.
 */
export interface ProcessGroup {
  readonly pid: number;
  /** True once Node has reaped the leader (its 'exit' event has fired). */
  hasExited(): boolean;
  /** Settles when Node has reaped the leader. */
  readonly exited: Promise<unknown>;
  /**
   * Settles once no process holds the group's lifeline any more (see worker-process.ts):
   * every process of the group has exited. It may never settle (a program that closes the
   * descriptor): the stop then looks once at its step's timeout.
   */
  readonly released: Promise<void>;
}

/**
 * Who a signal goes to. `leader`: the leader while it runs, and once it has exited, whatever is
 * left in its group (php-fpm children orphaned by a crashed master must still hear it).
 * `group`: every process of the group at once.
 */
export type StopTarget = 'leader' | 'group';

export interface StopStep {
  readonly signal: NodeJS.Signals;
  readonly to: StopTarget;
}

export interface StopOutcome {
  /** A step after the first was needed. */
  readonly forced: boolean;
  /** Processes still there after the final SIGKILL and its wait (uninterruptible sleep). */
  readonly stragglers: readonly number[];
}

/** Sends `signal` to `pid` (or, negative, a group); false when there is no such process. */
export function sendSignal(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    // EPERM: it exists but is not ours to signal (a child that switched user, as php-fpm's do,
    // stays signalable by root; another user's process reusing the pid would not be).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The live (non-zombie) processes of process group `pgid`. A zombie counts as gone: it has
 * run its last instruction, and an orphan's zombie lingers until init (or, in a container,
 * whatever runs as pid 1) gets round to reaping it, which may be never. Linux reads /proc;
 * elsewhere a group that answers signal 0 is reported as `[pgid]`. `exitingIsGone`: a process
 * already in exit(2) (PF_EXITING) counts as gone too; only right after a group's lifeline was
 * released, when its members have closed their files but may not be zombies yet. (In general
 * a leader thread can exit while the others run, so it is not the default.)
 */
export function liveGroupMembers(pgid: number, exitingIsGone = false): number[] {
  if (!sendSignal(-pgid, 0)) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pgid];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses: cut at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid || fields[0] === 'Z' || fields[0] === 'X') continue;
    if (exitingIsGone && (Number(fields[6]) & PF_EXITING) !== 0) continue;
    members.push(Number(entry));
  }
  return members;
}

/** The kernel's task flag for a process in exit(2) (include/linux/sched.h), /proc stat field 9. */
const PF_EXITING = 0x4;

/** Whether the leader has exited and nothing alive is left in its group. */
export function isGone(group: ProcessGroup, exitingIsGone = false): boolean {
  return group.hasExited() && liveGroupMembers(group.pid, exitingIsGone).length === 0;
}

/**
 * Sends `step`'s signal (none for a null step), then waits until every group is gone (true) or
 * `timeoutMs` passes (false). A `leader` step that finds a leader gone, at the start or later
 * when it exits, sends its signal once to what is left in that group: a shell's background
 * job, a crashed master's children. Only a group with members is signalled: once empty, its
 * number may be reused by an unrelated new group.
 *
 * No polling: a group is looked at in /proc when its leader exits, and again when its lifeline
 * is released (its last process has exited), or once at the timeout. A group whose processes
 * closed the lifeline is therefore only found gone at the timeout.
 */
async function runStep(
  groups: readonly ProcessGroup[],
  step: StopStep | null,
  timeoutMs: number,
): Promise<boolean> {
  const toGroup = new Set<ProcessGroup>();
  const signalGroup = (group: ProcessGroup): void => {
    if (step === null || toGroup.has(group)) return;
    toGroup.add(group);
    if (liveGroupMembers(group.pid).length > 0) sendSignal(-group.pid, step.signal);
  };
  if (step !== null) {
    for (const group of groups) {
      if (step.to === 'leader' && !group.hasExited()) sendSignal(group.pid, step.signal);
      else signalGroup(group);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
  });
  const released = Promise.all(
    groups.map(async (group) => {
      await group.exited;
      signalGroup(group);
      if (liveGroupMembers(group.pid).length === 0) return true;
      await group.released;
      // Released: every holder has closed its files; one may still be on its way to zombie.
      return isGone(group, true);
    }),
  );
  try {
    const first = await Promise.race([released, timedOut]);
    if (first !== 'timeout' && first.every(Boolean)) return true;
    // A process that closed its lifeline (or left the group holding it): the timeout decides.
    await timedOut;
    return groups.every((group) => isGone(group));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops process groups by escalation: each step's signal, then up to `graceMs` for every group
 * to be gone before the next step. After the last step (a SIGKILL) it waits KILL_WAIT_MS at
 * most and reports what is left rather than hang: a process stuck in uninterruptible sleep
 * cannot be helped from here. Resolves when the leaders have exited and their groups are empty.
 */
export async function stopGroups(
  groups: readonly ProcessGroup[],
  steps: readonly StopStep[],
  graceMs: number,
): Promise<StopOutcome> {
  for (const [index, step] of steps.entries()) {
    const pending = groups.filter((group) => !isGone(group));
    if (pending.length === 0) return { forced: index > 0, stragglers: [] };
    const last = index === steps.length - 1;
    if (await runStep(pending, step, last ? KILL_WAIT_MS : graceMs)) {
      return { forced: index > 0, stragglers: [] };
    }
  }
  const stragglers = groups.flatMap((group) => [
    ...(group.hasExited() ? [] : [group.pid]),
    ...liveGroupMembers(group.pid).filter((pid) => pid !== group.pid),
  ]);
  return { forced: steps.length > 1, stragglers };
}
