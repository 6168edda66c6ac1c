import type { Logger } from 'pino';
import { CodedError } from '../coded-error.js';
import type { DeployRecord, DoneEvent, ProgressEvent } from '../control/messages.js';
import { BusyError, type OperationClaim, OperationLock } from '../control/operation-lock.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { ReplicaEvent } from '../supervisor/supervisor-events.js';
import { waitForState } from '../supervisor/wait-for-state.js';
import { resolveDeployTarget } from './deploy-target.js';
import { checkSymlinkWritable, flipSymlink, resolvedTargetOrNull } from './flip-symlink.js';
import { lastGoodRelease } from './last-good-release.js';
import type { ReleaseHistory } from './release-history.js';
import { forwardSwitchProgress } from './switch-progress.js';
import { moveSymlinkAtCutOver } from './symlink-at-cut-over.js';

export type DeployerErrorCode = 'ERR_NO_ROLLBACK_TARGET';

export class DeployerError extends CodedError<DeployerErrorCode> {
  override readonly name = 'DeployerError';
}

export interface DeployerOptions {
  readonly supervisor: Supervisor;
  readonly history: ReleaseHistory;
  readonly symlink: string;
  readonly root: string | null;
  /** Bound on one whole switch (both halves, or the way back after a failure). */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /**
   * The lock deploy, rollback and restart share (a restart takes it on the control side); a
   * deployer on its own has one of its own.
   */
  readonly lock?: OperationLock;
}

type Trigger = DeployRecord['trigger'];
type Outcome = { ok: true } | { ok: false; reason: string };

/** What the daemon does about a symlink that now resolves to a release (see followSymlink). */
export type FollowOutcome =
  /** A switch to it runs (started now, or already under way). */
  | { readonly kind: 'following' }
  /** It is the release the daemon converges on already. */
  | { readonly kind: 'current' }
  /** A target `deploy` would refuse (outside release.root, not a directory): not followed. */
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'stopping' };

/** A switch that has ended, for whoever waits on a release (`switchyard await`). */
export interface SwitchEnd {
  readonly trigger: Trigger;
  /** The release it switched to, or failed to. */
  readonly release: string;
  readonly done: DoneEvent;
}

/** The switch under way: its target can move (a newer symlink flip) until it ends. */
interface Switch {
  readonly trigger: Trigger;
  readonly previous: string;
  target: string;
  readonly startedAt: number;
  readonly onEvent: (event: ProgressEvent) => void;
  /** Settles the wait when the target moves, so it restarts on the new target. */
  retarget: (() => void) | null;
  /** `deploy --force` of the current release: every replica restarts on it, no cut-over. */
  readonly inPlace: boolean;
  /** The symlink's realpath when the switch began; null when it led nowhere. */
  readonly symlinkBefore: string | null;
  /** Why the symlink could not be moved at the cut-over, when it could not. */
  cutOverFlipError: string | null;
  /** Abandoned: its replicas go back to the serving release; a newer flip waits for its end. */
  goingBack: boolean;
}

/**
 * Switches the served release: `deploy`, `rollback`, and flips of the symlink made by deploy
 * tools. One switch at a time; a flip during a switch moves its target instead of queueing
 * (the daemon converges on the latest target once). `deploy`, `rollback` and `recovery` move
 * the symlink at the cut-over, in the tick the balancer toggles; a deploy tool's flip has
 * moved it already. A new release that fails to start, to pass its health check or its
 * warm-up before the cut-over is abandoned: the old release kept serving, the failed replicas
 * come back on it, and a symlink a deploy tool flipped is put back.
 */
export class Deployer {
  readonly #options: DeployerOptions;
  readonly #lock: OperationLock;
  #running: Switch | null = null;
  #stopped = false;
  /** A release not to follow on its own again: it just failed, or the symlink was left on it. */
  #notToFollow: string | null = null;
  /**
   * Where this daemon last moved the symlink itself, until the symlink is seen elsewhere: the
   * watcher reports that flip too, late, and by then another switch may run (see followSymlink).
   */
  #placed: string | null = null;
  readonly #endListeners = new Set<(end: SwitchEnd) => void>();
  readonly #seenListeners = new Set<(release: string, outcome: FollowOutcome) => void>();

  constructor(options: DeployerOptions) {
    this.#options = options;
    this.#lock = options.lock ?? new OperationLock();
  }

  get busy(): boolean {
    return this.#running !== null;
  }

  /** Called with every switch as it ends, ok or not. */
  onSwitchEnd(listener: (end: SwitchEnd) => void): () => void {
    this.#endListeners.add(listener);
    return () => this.#endListeners.delete(listener);
  }

  /** Called after each followSymlink: the release the symlink was seen on, and what was done. */
  onSymlinkSeen(listener: (release: string, outcome: FollowOutcome) => void): () => void {
    this.#seenListeners.add(listener);
    return () => this.#seenListeners.delete(listener);
  }

  /** `switchyard deploy <target>`: refuses a bad target before anything changes. */
  deploy(
    target: string,
    force: boolean,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    const claim = this.#claim('deploy', `a deploy of ${target}`);
    try {
      const current = this.#options.supervisor.desired.release;
      const resolved = resolveDeployTarget(target, {
        symlink: this.#options.symlink,
        root: this.#options.root,
        current,
        force,
      });
      return this.#switch('deploy', resolved, onEvent, force && resolved === current, claim);
    } catch (error) {
      claim.release();
      throw error;
    }
  }

  /** `switchyard rollback`: back to the release served before the last switch. */
  rollback(onEvent: (event: ProgressEvent) => void): Promise<DoneEvent> {
    const claim = this.#claim('rollback', 'a rollback');
    const current = this.#options.supervisor.desired.release;
    const target = this.#options.history.rollbackTarget(current);
    if (target === null) {
      claim.release();
      throw new DeployerError(
        'ERR_NO_ROLLBACK_TARGET',
        `nothing to roll back to: no earlier release of ${current} is in the history (or its directory is gone)`,
      );
    }
    return this.#switch('rollback', target, onEvent, false, claim);
  }

  /**
   * The symlink now resolves to `resolved` (a deploy tool flipped it): converge on it, unless
   * `deploy` would refuse it (then the replicas stay where they are and the reason is logged
   * and returned, for `switchyard await`).
   */
  followSymlink(resolved: string): FollowOutcome {
    const outcome = this.#follow(resolved);
    for (const listener of this.#seenListeners) {
      try {
        listener(resolved, outcome);
      } catch (error) {
        this.#options.logger.error({ err: (error as Error).message }, 'a symlink listener failed');
      }
    }
    return outcome;
  }

  #follow(resolved: string): FollowOutcome {
    const { supervisor, logger } = this.#options;
    const running = this.#running;
    if (this.#stopped) return { kind: 'stopping' };
    // Where this daemon put the symlink and nobody moved it since: no deploy tool's flip, but
    // the watcher's late report of ours (a deploy that ended just now), arriving while the next
    // switch has yet to reach its cut-over. Following it would turn that switch back.
    const ours = resolved === this.#placed;
    if (!ours) this.#placed = null;
    const converging = running?.target ?? supervisor.desired.release;
    if (resolved === converging || ours)
      return running === null ? { kind: 'current' } : { kind: 'following' };
    try {
      // The same checks as `deploy` (release.root above all); the flip itself is not ours
      // to undo, but the replicas are not moved to a target `deploy` would refuse.
      resolveDeployTarget(resolved, {
        symlink: this.#options.symlink,
        root: this.#options.root,
        current: converging,
        force: false,
      });
    } catch (error) {
      const reason = `the release symlink was flipped to ${resolved}, which deploy would refuse: ${(error as Error).message}`;
      logger.error(
        { release: resolved, err: (error as Error).message },
        `${reason}; not following it`,
      );
      return { kind: 'refused', reason };
    }
    if (running?.goingBack === true) {
      // Retargeting now would move the replicas with no switch to record, check or put back.
      logger.info(
        { release: resolved },
        'the symlink moved while a failed switch goes back: following it once that has ended',
      );
      return { kind: 'following' };
    }
    if (running !== null) {
      logger.info(
        { from: running.target, to: resolved },
        'the symlink moved again during a switch: converging on the latest target',
      );
      running.target = resolved;
      supervisor.setRelease(resolved);
      running.retarget?.();
      return { kind: 'following' };
    }
    logger.info({ release: resolved }, 'the release symlink was flipped: following it');
    this.#switch('symlink', resolved, (event) => this.#logProgress(event), false).catch(
      (error: unknown) =>
        logger.error({ err: (error as Error).message }, 'following the symlink failed'),
    );
    return { kind: 'following' };
  }

  /**
   * The serving release's directory is gone (removed by hand, or by a deploy tool's cleanup):
   * every request would be a 404. Goes back to the last good release the history knows, as a
   * `recovery` switch that also moves the symlink; when there is none, says so. Returns what
   * it did, for the log.
   */
  recoverFromRemovedRelease(): { readonly handled: boolean; readonly message: string } {
    const { supervisor, history, logger } = this.#options;
    const removed = supervisor.desired.release;
    if (this.#stopped) return { handled: true, message: 'the daemon is stopping' };
    // A running switch replaces the replicas anyway; asked again once it has ended.
    if (this.#running !== null) return { handled: false, message: 'a switch is running' };
    // A deploy tool may have flipped the symlink and then removed the old release
    // (`ln -sfn releases/43 current && rm -rf releases/42`): the flip is what to follow.
    const flipped = resolvedTargetOrNull(this.#options.symlink);
    if (flipped !== null && flipped !== removed) {
      this.followSymlink(flipped);
      return {
        handled: true,
        message: `the serving release ${removed} was removed: following the symlink to ${flipped}`,
      };
    }
    const target = lastGoodRelease(history.entries(), removed, {
      symlink: this.#options.symlink,
      root: this.#options.root,
    });
    if (target === null) {
      return {
        handled: true,
        message: `the serving release ${removed} was removed and the history knows no other that still exists: deploy one`,
      };
    }
    this.#switch('recovery', target, (event) => this.#logProgress(event), false).catch(
      (error: unknown) =>
        logger.error(
          { err: (error as Error).message },
          'going back to the last good release failed',
        ),
    );
    return {
      handled: true,
      message: `the serving release ${removed} was removed: going back to the last good release ${target}`,
    };
  }

  /** The operation lock for a deploy or rollback; refused while another runs, or once stopping. */
  #claim(what: string, holder: string): OperationClaim {
    const claim = this.#lock.claim(holder);
    if (this.#stopped) {
      claim.release();
      throw new BusyError(`the daemon is stopping; ${what} refused`);
    }
    return claim;
  }

  /**
   * Runs a switch holding the operation lock: the claim of a deploy or rollback, or a hold of
   * its own for a followed flip or a recovery (not refused: the daemon must follow them).
   */
  async #switch(
    trigger: Trigger,
    target: string,
    onEvent: (event: ProgressEvent) => void,
    restartInPlace: boolean,
    claim: OperationClaim = this.#lock.hold('a release switch'),
  ): Promise<DoneEvent> {
    try {
      return await this.#runSwitch(trigger, target, onEvent, restartInPlace);
    } finally {
      claim.release();
    }
  }

  async #runSwitch(
    trigger: Trigger,
    target: string,
    onEvent: (event: ProgressEvent) => void,
    restartInPlace: boolean,
  ): Promise<DoneEvent> {
    const { supervisor, logger } = this.#options;
    const running: Switch = {
      trigger,
      previous: supervisor.desired.release,
      target,
      startedAt: Date.now(),
      onEvent,
      retarget: null,
      inPlace: restartInPlace,
      symlinkBefore: resolvedTargetOrNull(this.#options.symlink),
      cutOverFlipError: null,
      goingBack: false,
    };
    const { symlink } = this.#options;
    if (trigger !== 'symlink') checkSymlinkWritable(symlink);
    // A release that already serves has nothing to keep atomic: the symlink is put on it now
    // (after a flip that failed at a cut-over, this is how it is set right).
    if (restartInPlace && running.symlinkBefore !== target) this.#moveSymlink(target);
    this.#running = running;
    // Before the progress forwarding, so the symlink has moved when the cut-over is reported.
    const offFlip =
      trigger === 'symlink' || restartInPlace
        ? () => {}
        : moveSymlinkAtCutOver({
            supervisor,
            symlink,
            target: () => running.target,
            before: running.symlinkBefore,
            active: () => !this.#stopped,
            logger,
            onMoved: (release) => {
              this.#placed = release;
            },
            onFailure: (reason) => {
              running.cutOverFlipError = reason;
              logger.error(
                { release: running.target, err: reason },
                'the release symlink could not be moved at the cut-over: the new release serves, but a restarted daemon would start on the old one',
              );
            },
          });
    const unsubscribe = forwardSwitchProgress(supervisor, (event) => running.onEvent(event));
    try {
      // Before the start: paths into the new release (a followed flip moves the symlink
      // first, and nginx's $realpath_root resolves it) that reach an old replica are
      // rewritten to the old one's directory, not run from the new one.
      supervisor.knowRelease(target);
      logger.info({ trigger, release: target, previous: running.previous }, 'switching release');
      if (restartInPlace) supervisor.restartAll();
      else supervisor.setRelease(target);
      const outcome = await this.#converge(running);
      if (!outcome.ok) return await this.#abandon(running, outcome.reason);
      if (running.cutOverFlipError !== null) {
        this.#notToFollow = running.symlinkBefore;
        return this.#finish(running, true, `switched to ${running.target}`, {
          symlinkError: running.cutOverFlipError,
        });
      }
      return this.#finish(running, true, `switched to ${running.target}`);
    } finally {
      offFlip();
      unsubscribe();
      this.#running = null;
      // A flip that arrived while this switch was going back is followed now.
      setImmediate(() => this.#followCurrentSymlink());
    }
  }

  #followCurrentSymlink(): void {
    if (this.#running !== null || this.#stopped) return;
    const resolved = resolvedTargetOrNull(this.#options.symlink);
    if (resolved === null) return;
    // A release that just failed is not retried on its own, nor one the symlink was left on
    // when it could not be moved: the next flip or deploy decides.
    if (resolved !== this.#notToFollow) this.followSymlink(resolved);
  }

  /**
   * The daemon is stopping. Before the cut-over, a symlink a deploy tool flipped to the
   * switch's target is put back on the serving release, so the next start does not pin every
   * replica to an untried one (a `deploy` or `rollback` has not moved it yet).
   */
  stop(): void {
    this.#stopped = true;
    const running = this.#running;
    const serving = this.#options.supervisor.servingRelease;
    if (running === null || serving === null || serving === running.target) return;
    if (resolvedTargetOrNull(this.#options.symlink) !== running.target) return;
    const restored = this.#restoreSymlink(running.target, serving);
    this.#options.logger.warn(
      { release: running.target, serving },
      `stopping during a switch before its cut-over: ${restored}`,
    );
  }

  /**
   * Waits until every replica serves the target. Before the cut-over, a replica on the target
   * that fails ends the wait with its reason; after it, crash recovery takes over and only
   * the time bound ends the wait.
   */
  async #converge(running: Switch): Promise<Outcome> {
    const { supervisor, timeoutMs } = this.#options;
    const deadline = running.startedAt + timeoutMs;
    for (;;) {
      const target = running.target;
      let failure: Outcome | undefined;
      const unsubscribe = supervisor.onEvent((event) => {
        // Before the cut-over (or in a forced restart in place, which has none), a replica of
        // the target that fails ends the wait; after it, crash recovery takes over.
        if (
          event.state === 'failed' &&
          event.release === target &&
          (running.inPlace || supervisor.servingRelease !== target)
        ) {
          failure ??= {
            ok: false,
            reason: `${event.name} on ${target}: ${failureText(event, supervisor)}`,
          };
        }
      });
      const retargeted = new AbortController();
      running.retarget = () => retargeted.abort('retarget');
      const outcome = await waitForState<Outcome | 'retarget'>({
        changes: supervisor.onChange,
        judge: () =>
          failure ??
          (supervisor.isConverged() && supervisor.desired.release === target
            ? { ok: true }
            : undefined),
        timeoutMs: deadline - Date.now(),
        onTimeout: () => ({
          ok: false,
          reason: `not every replica served ${target} within ${timeoutMs} ms`,
        }),
        signal: retargeted.signal,
      }).finally(() => {
        unsubscribe();
        running.retarget = null;
      });
      if (outcome !== 'retarget') return outcome;
    }
  }

  /** Back to the previous release (only before the cut-over is that possible without a mix). */
  async #abandon(running: Switch, reason: string): Promise<DoneEvent> {
    const { supervisor, logger } = this.#options;
    const failed = running.target;
    if (running.inPlace) {
      return this.#finish(
        running,
        false,
        `${reason}\n${failed} still serves from the replicas that did not restart; the failed one keeps restarting on it`,
      );
    }
    if (supervisor.servingRelease === failed) {
      // The cut-over happened: the new release serves; going back would be a rollback.
      const symlink =
        running.cutOverFlipError === null
          ? ''
          : `; the symlink could not be moved to it: ${running.cutOverFlipError}`;
      return this.#finish(
        running,
        false,
        `${reason} (after the cut-over: ${failed} serves; run \`switchyard rollback\` to go back)${symlink}`,
      );
    }
    logger.error(
      { release: failed, reason },
      'the new release failed before the cut-over: going back',
    );
    // Back to what serves now: after a retarget that is not always where this switch began.
    const back = supervisor.servingRelease ?? running.previous;
    running.goingBack = true;
    supervisor.setRelease(back);
    const restored = this.#restoreSymlink(failed, back);
    running.target = back;
    // The old release served throughout; wait (bounded) until nothing runs the failed one,
    // not for every replica to be back: one that cannot start at all keeps backing off.
    const gone = await waitForState({
      changes: supervisor.onChange,
      judge: () =>
        supervisor.snapshot().every((slot) => slot.release !== failed || slot.state === 'stopped')
          ? true
          : undefined,
      timeoutMs: 10_000,
      onTimeout: () => false,
    });
    const replicas = gone
      ? 'the replicas that ran it are coming back on it'
      : `some replicas still run ${failed}`;
    return this.#finish(
      { ...running, target: failed },
      false,
      `${reason}\n${back} kept serving throughout; ${replicas}; ${restored}`,
    );
  }

  /**
   * After a switch to `failed` was abandoned: a symlink flipped to it (by a deploy tool) goes
   * back to `previous`; one this switch never moved is said to be left on the serving release.
   */
  #restoreSymlink(failed: string, previous: string): string {
    const now = resolvedTargetOrNull(this.#options.symlink);
    if (now === previous) return `the symlink was left on ${previous}, the serving release`;
    if (now !== null && now !== failed) return `the symlink points at ${now}, left as it is`;
    try {
      this.#moveSymlink(previous);
      return `the symlink points at ${previous} again`;
    } catch (error) {
      return `the symlink could not be put back: ${(error as Error).message}`;
    }
  }

  #moveSymlink(release: string): void {
    flipSymlink(this.#options.symlink, release);
    this.#placed = release;
  }

  /**
   * Records the switch and reports it. `symlinkError`: it served, but the symlink could not be
   * moved at its cut-over; recorded as having served (it did), reported as not ok.
   */
  #finish(
    running: Switch,
    ok: boolean,
    message: string,
    problem: { readonly symlinkError: string } | null = null,
  ): DoneEvent {
    const durationMs = Date.now() - running.startedAt;
    if (problem === null) this.#notToFollow = ok ? null : running.target;
    const recordedMessage =
      problem === null
        ? message
        : `${message}, but the symlink could not be moved to it: ${problem.symlinkError}`;
    const recorded = this.#options.history.record({
      trigger: running.trigger,
      release: running.target,
      previous: running.previous,
      ok,
      startedAt: new Date(running.startedAt).toISOString(),
      durationMs,
      message: recordedMessage,
    });
    let done: DoneEvent = recorded.saved
      ? { kind: 'done', ok, message, durationMs }
      : unrecordedDone(ok, message, durationMs, recorded.reason);
    if (problem !== null) done = unmovedSymlinkDone(done, running, problem.symlinkError);
    const reported = ok && done.ok;
    this.#options.logger[reported ? 'info' : 'error'](
      { trigger: running.trigger, release: running.target, durationMs },
      reported ? `release switch done: ${done.message}` : `release switch failed: ${done.message}`,
    );
    if (running.trigger === 'symlink') this.#logProgress(done);
    for (const listener of this.#endListeners) {
      try {
        listener({ trigger: running.trigger, release: running.target, done });
      } catch (error) {
        this.#options.logger.error(
          { err: (error as Error).message },
          'a switch-end listener failed',
        );
      }
    }
    return done;
  }

  /** A switch nobody streams (a followed symlink flip): its progress goes to the log. */
  #logProgress(event: ProgressEvent): void {
    if (event.kind === 'toggle')
      this.#options.logger.info({ release: event.release }, event.message);
  }
}

/**
 * The end of a switch whose record could not be saved (the history logged why). A switch that
 * served is no longer reported ok: whoever deployed must learn that a restarted daemon will
 * not know it (no rollback to before it, no fallback on it).
 */
function unrecordedDone(
  ok: boolean,
  message: string,
  durationMs: number,
  reason: string,
): DoneEvent {
  const unsaved = `the release history could not be saved: ${reason}`;
  if (!ok) return { kind: 'done', ok, message: `${message}\n(${unsaved})`, durationMs };
  return {
    kind: 'done',
    ok: false,
    message: `${message}, but ${unsaved}; the daemon keeps it in memory, but after a restart \`switchyard rollback\` will not know this switch`,
    durationMs,
    historyError: reason,
  };
}

/**
 * The end of a switch that serves its release but could not move the symlink to it at the
 * cut-over: not ok, so whoever deployed learns that a restarted daemon would start on the
 * release the symlink still names.
 */
function unmovedSymlinkDone(done: DoneEvent, running: Switch, reason: string): DoneEvent {
  const left = running.symlinkBefore ?? 'a release that no longer exists';
  return {
    ...done,
    ok: false,
    message: [
      `${done.message}, but the release symlink could not be moved to it at the cut-over: ${reason}`,
      `${running.target} serves; the symlink still points at ${left}, so a restarted daemon would start on that; point the symlink at ${running.target} once it can be written (or run \`switchyard deploy --force ${running.target}\`)`,
    ].join('\n'),
  };
}

function failureText(event: ReplicaEvent, supervisor: Supervisor): string {
  const slot = supervisor.snapshot().find((candidate) => candidate.name === event.name);
  return slot?.lastError ?? event.message;
}
