import type { Logger } from 'pino';
import { CONFIG_EXIT_CODE, isConfigError } from '../config/config-error.js';
import type { Config } from '../config/config-types.js';
import { loadConfig } from '../config/load-config.js';
import { type RunningDaemon, startDaemon } from '../daemon.js';
import { createLogger } from '../log.js';
import { ExitCode } from './exit-code.js';
import { warnIfReleaseRootUnset } from './release-root-warning.js';

export interface DaemonCommandOptions {
  readonly config: string;
  readonly pretty: boolean;
}

/**
 * `switchyard daemon`: runs in the foreground (systemd's Type=simple/notify), logs JSON lines
 * to stdout. SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0; a second
 * signal stops at once. SIGHUP: the config file is read again and applied by replacing the
 * replicas one at a time; a bad file is refused and the running config stays.
 */
export async function runDaemonCommand(options: DaemonCommandOptions): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(options.config);
  } catch (error) {
    return reportStartupError(error);
  }
  const logger = createLogger(config.log.level, options.pretty);
  warnIfReleaseRootUnset(config, logger);
  // Signals while the replicas come up: Node's default would kill the daemon and leave a
  // half-started set behind. A stop waits for the start; a reload is pointless (the file is
  // being read anyway).
  let earlySignal: NodeJS.Signals | null = null;
  const early = (signal: NodeJS.Signals) => {
    earlySignal ??= signal;
    logger.warn({ signal }, 'still starting: stopping as soon as the start is done');
  };
  const earlyHup = () => logger.warn('SIGHUP while starting: ignored');
  process.on('SIGTERM', early);
  process.on('SIGINT', early);
  process.on('SIGHUP', earlyHup);
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, logger);
  } catch (error) {
    logger.flush();
    return reportStartupError(error);
  } finally {
    process.off('SIGTERM', early);
    process.off('SIGINT', early);
    process.off('SIGHUP', earlyHup);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: stopping at once');
        daemon.destroy();
        resolve(ExitCode.failed);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'stopping: finishing in-flight requests');
      // Every admitted request ends by its request timeout; past that, nothing is waited for.
      const bound = setTimeout(
        () => {
          logger.warn('in-flight requests outlived the request timeout: stopping at once');
          daemon.destroy();
          resolve(ExitCode.failed);
        },
        config.limits.requestTimeoutMs + config.drain.timeoutMs * 3 + 2_000,
      );
      bound.unref();
      daemon.shutdown().then(
        () => {
          clearTimeout(bound);
          logger.info('stopped');
          resolve(ExitCode.ok);
        },
        (error: unknown) => {
          clearTimeout(bound);
          logger.error({ err: (error as Error).message }, 'stopping failed: stopping at once');
          daemon.destroy();
          resolve(ExitCode.failed);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => reloadConfig(options.config, daemon, logger));
    if (earlySignal !== null) stop(earlySignal);
  });
}

/** SIGHUP: re-read the file; a valid one is applied with a rolling restart, a bad one refused. */
function reloadConfig(path: string, daemon: RunningDaemon, logger: Logger): void {
  let next: Config;
  try {
    next = loadConfig(path);
  } catch (error) {
    logger.error(
      { config: path, err: (error as Error).message },
      'SIGHUP: config refused, keeping the running one',
    );
    return;
  }
  logger.info({ config: path }, `SIGHUP: ${daemon.reload(next)}`);
}

function reportStartupError(error: unknown): number {
  if (isConfigError(error)) {
    process.stderr.write(`switchyard: config error: ${error.message}\n`);
    return CONFIG_EXIT_CODE;
  }
  process.stderr.write(`switchyard: cannot start: ${(error as Error).message}\n`);
  return ExitCode.failed;
}
