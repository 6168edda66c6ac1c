import type { DeployRecord, DoneEvent, ProgressEvent } from '../control/messages.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Deployer, SwitchEnd } from './deployer.js';
import { resolvedTargetOrNull } from './flip-symlink.js';
import type { ReleaseHistory } from './release-history.js';
import { forwardSwitchProgress } from './switch-progress.js';

export interface AwaitReleaseParts {
  readonly deployer: Deployer;
  readonly supervisor: Supervisor;
  readonly history: ReleaseHistory;
  readonly symlink: string;
}

export interface AwaitReleaseRequest {
  /**
   * The release a deploy tool flipped the symlink to (absolute). Null: the symlink's target
   * now, which no longer names a flip the daemon abandoned and put back.
   */
  readonly release: string | null;
  readonly timeoutMs: number;
  /** Aborted when whoever waits leaves: the wait ends (the switch goes on). */
  readonly signal: AbortSignal;
}

/**
 * `switchyard await`: waits until every replica serves the release a deploy tool flipped the
 * symlink to, streaming the switch's progress. It does not wait for the symlink watcher: it
 * reads the symlink at once and follows it. Ends not ok with the daemon's reason when the
 * flip was refused (a target outside release.root), when the switch failed and the symlink
 * was put back (also when that happened before the wait began: the history keeps it), when
 * another flip replaced it, or when `timeoutMs` passes (the switch goes on).
 */
export function awaitRelease(
  parts: AwaitReleaseParts,
  request: AwaitReleaseRequest,
  onEvent: (event: ProgressEvent) => void,
): Promise<DoneEvent> {
  const { deployer, supervisor, history, symlink } = parts;
  const startedAt = Date.now();
  const ended = (ok: boolean, message: string): DoneEvent => ({
    kind: 'done',
    ok,
    message,
    durationMs: Date.now() - startedAt,
  });
  const target =
    request.release === null
      ? resolvedTargetOrNull(symlink)
      : (resolvedTargetOrNull(request.release) ?? request.release);
  if (target === null) {
    return Promise.resolve(
      ended(false, `the release symlink ${symlink} leads nowhere: nothing to wait for`),
    );
  }
  if (request.release === null) {
    const abandoned = abandonedFlipFrom(target, history.last(), deployer, supervisor);
    if (abandoned !== null) return Promise.resolve(ended(false, abandoned));
  }

  return new Promise<DoneEvent>((resolve) => {
    let settled = false;
    let checkQueued = false;
    const finish = (done: DoneEvent) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      offProgress();
      offEnd();
      offSeen();
      request.signal.removeEventListener('abort', onAbort);
      resolve(done);
    };
    // Looked at again after whatever can change the answer: a replica's step, the cut-over, a
    // switch's end, the symlink seen elsewhere. Once per turn of the event loop, after the
    // change has settled (a switch that just ended is no longer busy), and never from inside
    // the supervisor's or deployer's own calls, which it may call back (following the flip).
    const check = () => {
      if (settled) return;
      const outcome = whereItStands(parts, target);
      if (outcome !== null) finish(ended(outcome.ok, outcome.message));
    };
    const recheck = () => {
      if (checkQueued || settled) return;
      checkQueued = true;
      setImmediate(() => {
        checkQueued = false;
        check();
      });
    };
    const offProgress = forwardSwitchProgress(supervisor, (event) => {
      onEvent(event);
      recheck();
    });
    const offEnd = deployer.onSwitchEnd((end: SwitchEnd) => {
      if (end.release !== target) {
        recheck();
        return;
      }
      finish(
        end.done.ok
          ? ended(true, `every replica serves ${target}`)
          : ended(false, end.done.message),
      );
    });
    const offSeen = deployer.onSymlinkSeen(recheck);
    const onAbort = () => finish(ended(false, 'the client left'));
    request.signal.addEventListener('abort', onAbort);
    const timer = setTimeout(() => {
      finish(
        ended(
          false,
          `timed out after ${formatSeconds(request.timeoutMs)} waiting for every replica to serve ${target}: ${stateOf(parts)} (the daemon goes on; see \`switchyard status\`)`,
        ),
      );
    }, request.timeoutMs);
    check();
  });
}

/**
 * Whether the wait for `target` is over: null while a switch runs or the replicas are still
 * coming up on it. Follows the symlink at once when it names the target and no switch to it
 * runs yet (the watcher may not have reported the flip).
 */
function whereItStands(
  parts: AwaitReleaseParts,
  target: string,
): { readonly ok: boolean; readonly message: string } | null {
  const { deployer, supervisor, history, symlink } = parts;
  // Its end (the switch-end listener) says how it went.
  if (deployer.busy) return null;
  if (supervisor.desired.release === target) {
    return servedEverywhere(supervisor, target)
      ? { ok: true, message: `every replica serves ${target}` }
      : null;
  }
  const linked = resolvedTargetOrNull(symlink);
  if (linked === target) {
    const outcome = deployer.followSymlink(target);
    if (outcome.kind === 'refused') return { ok: false, message: outcome.reason };
    if (outcome.kind === 'stopping') {
      return { ok: false, message: `the daemon is stopping; it did not switch to ${target}` };
    }
    return null;
  }
  // The symlink no longer names it: the daemon tried it and put the symlink back, or another
  // flip came after it.
  const tried = newestRecordOf(history.entries(), target);
  const now = `the symlink points at ${linked ?? 'nothing that exists'}`;
  if (tried === null) {
    return {
      ok: false,
      message: `${now}, not ${target}, and the daemon has not switched to ${target}: another flip replaced it?`,
    };
  }
  if (!tried.ok) {
    return {
      ok: false,
      message: `the switch to ${target} (started ${tried.startedAt}) failed: ${tried.message}`,
    };
  }
  return {
    ok: false,
    message: `${target} served, but the daemon has moved on to ${supervisor.desired.release}; ${now}`,
  };
}

/**
 * The balancer serves `target`, as does a full set of ready replicas, and no replica runs
 * another release. Unlike `isConverged`, a spare of the same release that has yet to be
 * removed (after a rolling restart with surge, which no replica event reports) or a restart
 * still replacing replicas of it does not hold the answer back: they serve it too.
 */
function servedEverywhere(supervisor: Supervisor, target: string): boolean {
  if (supervisor.servingRelease !== target) return false;
  const slots = supervisor.snapshot();
  const ready = slots.filter((slot) => slot.state === 'ready' && slot.release === target);
  return (
    ready.length >= supervisor.desired.count &&
    slots.every((slot) => slot.release === target || slot.state === 'stopped')
  );
}

/**
 * Without `--release`, a flip the daemon abandoned before the wait began is invisible in the
 * symlink (it was put back): the last switch tells. It counts when it was a followed flip that
 * failed away from the release that serves now, and nothing switched since.
 */
function abandonedFlipFrom(
  linked: string,
  last: DeployRecord | null,
  deployer: Deployer,
  supervisor: Supervisor,
): string | null {
  if (last === null || last.ok || last.trigger !== 'symlink' || deployer.busy) return null;
  if (last.previous !== linked || supervisor.desired.release !== linked) return null;
  return `the last flip of the symlink, to ${last.release} (started ${last.startedAt}), failed and the symlink was put back on ${linked}: ${last.message}`;
}

function newestRecordOf(entries: readonly DeployRecord[], release: string): DeployRecord | null {
  for (let index = entries.length - 1; index >= 0; index -= 1) {
    const entry = entries[index];
    if (entry?.release === release) return entry;
  }
  return null;
}

/** What the daemon is doing, for a timed-out wait. */
function stateOf(parts: AwaitReleaseParts): string {
  const { supervisor, deployer } = parts;
  const serving = supervisor.servingRelease ?? 'nothing';
  const ready = supervisor
    .snapshot()
    .filter((slot) => slot.state === 'ready' && slot.release === supervisor.desired.release).length;
  const what = deployer.busy ? `a switch to ${supervisor.desired.release} runs` : 'no switch runs';
  return `${what}; ${serving} serves; ${ready} of ${supervisor.desired.count} replicas ready on ${supervisor.desired.release}`;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
