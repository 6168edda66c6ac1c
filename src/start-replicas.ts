import type { Logger } from 'pino';
import type { Config } from './config/config-types.js';
import { flipSymlink } from './release/flip-symlink.js';
import { hasServed, lastGoodRelease } from './release/last-good-release.js';
import type { ReleaseHistory } from './release/release-history.js';
import type { Supervisor } from './supervisor/supervisor.js';
import { waitForState } from './supervisor/wait-for-state.js';

export interface StartReplicasOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly history: ReleaseHistory;
  /** Where the symlink points, or null when it leads nowhere. */
  readonly symlinkRelease: string | null;
  /** Throws why the symlink leads nowhere (a ConfigError): for when nothing else can start. */
  readonly unresolved: () => string;
  readonly newSupervisor: (release: string) => Supervisor;
}

export interface StartedReplicas {
  readonly supervisor: Supervisor;
  /** The release they serve: the symlink's, or the last good one when that did not start. */
  readonly release: string;
}

/**
 * Starts the replicas on the symlink's release. When that release does not start (a crash in
 * the middle of a broken deploy leaves the symlink on it, or a deploy tool flipped it to one
 * that does not boot), or the symlink leads nowhere, the daemon does not take the site down
 * with it: it starts on the last release the history knows served, puts the symlink back on
 * it, logs why and records it as a `recovery` switch. It fails only when nothing has ever
 * worked: no history, or the fallback does not start either.
 */
export async function startReplicasOrRecover(
  options: StartReplicasOptions,
): Promise<StartedReplicas> {
  const { config, logger, history, symlinkRelease } = options;
  const startedAt = Date.now();
  let failure: Error;
  if (symlinkRelease === null) {
    failure = whyUnresolved(options);
  } else {
    const supervisor = options.newSupervisor(symlinkRelease);
    try {
      await bringUpReplicas(supervisor, config, logger);
      return { supervisor, release: symlinkRelease };
    } catch (error) {
      failure = error as Error;
    }
  }
  // A release that has served is not given up on at start (see hasServed): the daemon fails,
  // and its supervisor (systemd) tries again.
  if (symlinkRelease !== null && hasServed(history.entries(), symlinkRelease)) throw failure;
  const fallback = lastGoodRelease(history.entries(), symlinkRelease, {
    symlink: config.release.symlink,
    root: config.release.root,
  });
  if (fallback === null) throw failure;
  const broken = symlinkRelease ?? `${config.release.symlink} (which leads nowhere)`;
  logger.error(
    { release: symlinkRelease, fallback, err: failure.message },
    `the symlink's release ${broken} did not start: starting on the last good release ${fallback} and putting the symlink back`,
  );
  const supervisor = options.newSupervisor(fallback);
  try {
    await bringUpReplicas(supervisor, config, logger);
  } catch (error) {
    throw new Error(
      `${failure.message}\nand the last good release ${fallback} did not start either:\n${(error as Error).message}`,
    );
  }
  flipSymlink(config.release.symlink, fallback);
  history.record({
    trigger: 'recovery',
    release: fallback,
    previous: symlinkRelease ?? config.release.symlink,
    ok: true,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Date.now() - startedAt,
    message: `the daemon started on ${fallback}, the last good release: ${broken} did not start: ${failure.message}`,
  });
  return { supervisor, release: fallback };
}

function whyUnresolved(options: StartReplicasOptions): Error {
  try {
    options.unresolved();
    return new Error(`${options.config.release.symlink} does not resolve to a release directory`);
  } catch (error) {
    return error as Error;
  }
}

/**
 * Waits for the replicas' first health checks. The daemon serves once one replica is ready
 * (the others keep trying). When every replica has failed at least once and none is ready, or
 * none is ready within the start timeout, it stops them and fails with their own output: a
 * release that does not boot should fail loudly, not serve 503s.
 */
export async function bringUpReplicas(
  supervisor: Supervisor,
  config: Config,
  logger: Logger,
): Promise<void> {
  supervisor.start();
  const outcome = await waitForState<'converged' | 'failed' | 'late'>({
    changes: supervisor.onChange,
    judge: () => {
      if (supervisor.isConverged()) return 'converged';
      const slots = supervisor.snapshot();
      const allFailed = slots.length > 0 && slots.every((slot) => slot.lastError !== null);
      return allFailed && !slots.some((slot) => slot.state === 'ready') ? 'failed' : undefined;
    },
    timeoutMs: config.health.startTimeoutMs + 5_000,
    onTimeout: () => 'late',
  });
  if (outcome === 'converged') return;
  const slots = supervisor.snapshot();
  if (slots.some((slot) => slot.state === 'ready')) {
    logger.warn(
      { replicas: slots.map((slot) => `${slot.name}: ${slot.state}`) },
      'serving with fewer replicas than configured; the others keep restarting',
    );
    return;
  }
  await supervisor.shutdown(0);
  const errors = slots.map((slot) => `${slot.name}: ${slot.lastError ?? slot.state}`).join('\n');
  throw new Error(`no replica became ready on ${supervisor.desired.release}:\n${errors}`);
}
