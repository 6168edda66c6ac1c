import type { Logger } from 'pino';
import type { Config } from './config/config-types.js';
import type { SupervisorSettings } from './supervisor/supervisor.js';
import { CommandLauncher } from './supervisor/workers/command-launcher.js';
import { PhpFpmLauncher } from './supervisor/workers/php-fpm-launcher.js';

/** What the supervisor runs managed replicas with, from the config (at start and on reload). */
export function supervisorSettings(config: Config, logger: Logger): SupervisorSettings {
  const { replicas } = config;
  if (replicas.kind === 'external') throw new Error('external replicas are not supervised');
  const common = {
    runtimeDir: config.paths.runtime,
    drainTimeoutMs: config.drain.timeoutMs,
    // The socket must appear within the same bound as the first health check.
    startTimeoutMs: config.health.startTimeoutMs,
    logger,
  };
  return {
    count: replicas.count,
    capacity: replicas.capacity,
    surge: replicas.surge,
    surgeMarginBytes: replicas.surgeMarginBytes,
    health: config.health,
    drainTimeoutMs: config.drain.timeoutMs,
    warmup: config.deploy.warmup,
    warmupTimeoutMs: config.deploy.warmupTimeoutMs,
    releaseHeader: config.response.releaseHeader,
    watchdog: {
      stuckAfterMs: config.watchdog.stuckAfterMs,
      stuckWorkers: config.watchdog.stuckWorkers,
    },
    launcher:
      replicas.kind === 'php-fpm'
        ? new PhpFpmLauncher({
            ...common,
            replicas,
            health: config.health,
            releaseSymlink: config.release.symlink,
            slowlogMs: config.watchdog.slowlogMs,
          })
        : new CommandLauncher({ ...common, replicas }),
  };
}
