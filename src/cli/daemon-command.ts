import type { Logger } from 'pino';
import { CONFIG_EXIT_CODE, isConfigError } from '../config/config-error.js';
import type { Config } from '../config/config-types.js';
import { loadConfig } from '../config/load-config.js';
import { type RunningDaemon, startDaemon } from '../daemon.js';
import { createLogger } from '../log.js';
import { reportServiceStatus } from '../service-status.js';
import { SystemdNotifier } from '../systemd/notifier.js';
import {
  NO_SYSTEMD,
  readUpgradeMarker,
  type SystemdEnvironment,
  takeSystemdEnvironment,
} from '../systemd/systemd-environment.js';
import { startWatchdogPings } from '../systemd/watchdog-pings.js';
import { writeHandoverReport } from '../upgrade/handover-report.js';
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
 * replicas one at a time; a bad file is refused and the running config stays. SIGUSR2:
 * `switchyard upgrade`. Under systemd (NOTIFY_SOCKET): READY=1 once the replicas serve,
 * STATUS= lines, RELOADING=1 around a SIGHUP, STOPPING=1, WATCHDOG=1 when WatchdogSec is set.
 */
export async function runDaemonCommand(options: DaemonCommandOptions): Promise<number> {
  // First of all: the replicas must not inherit NOTIFY_SOCKET, WATCHDOG_* or LISTEN_*.
  let systemd: SystemdEnvironment = { ...NO_SYSTEMD, upgrade: readUpgradeMarker() };
  let config: ReturnType<typeof loadConfig>;
  try {
    systemd = takeSystemdEnvironment();
    config = loadConfig(options.config);
  } catch (error) {
    return reportStartupError(error, systemd);
  }
  const logger = createLogger(config.log.level, options.pretty);
  const notifier = new SystemdNotifier(systemd.notifySocket, logger);
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
  // Node's default for SIGUSR2 is to exit: never, here.
  const earlyUsr2 = () =>
    logger.warn('SIGUSR2 while starting: no upgrade before the start is done');
  process.on('SIGTERM', early);
  process.on('SIGINT', early);
  process.on('SIGHUP', earlyHup);
  process.on('SIGUSR2', earlyUsr2);
  // A successor took over: this daemon stops once the CLI has its answer.
  let handedOver: (pid: number) => void = () => {};
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, logger, {
      systemd,
      notifier,
      onHandedOver: (pid) => handedOver(pid),
    });
  } catch (error) {
    logger.flush();
    return reportStartupError(error, systemd);
  } finally {
    process.off('SIGTERM', early);
    process.off('SIGINT', early);
    process.off('SIGHUP', earlyHup);
    process.off('SIGUSR2', earlyUsr2);
  }
  const status = reportServiceStatus(
    daemon,
    notifier,
    config.replicas.kind === 'external' ? config.replicas.addresses.length : 0,
  );
  if (systemd.upgrade !== null && earlySignal !== null) {
    // Told to stop while starting (the predecessor gave up waiting): it keeps the service.
    writeHandoverReport(systemd.upgrade.reportFd, {
      ok: false,
      pid: process.pid,
      message: `stopped by ${earlySignal} while starting`,
    });
  } else if (systemd.upgrade !== null) {
    writeHandoverReport(systemd.upgrade.reportFd, { ok: true, pid: process.pid });
    logger.info(
      { predecessor: systemd.upgrade.fromPid },
      'upgrade: serving beside the old daemon, which now stops',
    );
  }
  // The replicas serve and the fronts accept: systemd's start (or upgrade) is complete. A
  // successor names itself the main pid as the predecessor does: whichever comes first. Not
  // one that is about to stop: systemd would take its exit for the service's.
  if (systemd.upgrade === null || earlySignal === null) {
    notifier.ready(status.line(), systemd.upgrade === null ? undefined : process.pid);
  }
  const stopPings =
    systemd.watchdogUsec === null ? () => {} : startWatchdogPings(notifier, systemd.watchdogUsec);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const finish = (code: number) => {
      stopPings();
      notifier.close();
      resolve(code);
    };
    const stop = (signal: NodeJS.Signals | 'upgrade') => {
      if (stopping) {
        if (signal === 'upgrade') return;
        logger.warn({ signal }, 'second signal: stopping at once');
        daemon.destroy();
        finish(ExitCode.failed);
        return;
      }
      stopping = true;
      status.stop();
      // After an upgrade the successor is the main process: STOPPING=1 would stop the unit.
      if (signal !== 'upgrade') notifier.stopping('stopping: finishing in-flight requests');
      logger.info({ signal }, 'stopping: finishing in-flight requests');
      // Every admitted request ends by its request timeout; past that, nothing is waited for.
      const bound = setTimeout(
        () => {
          logger.warn('in-flight requests outlived the request timeout: stopping at once');
          daemon.destroy();
          finish(ExitCode.failed);
        },
        config.limits.requestTimeoutMs + config.drain.timeoutMs * 3 + 2_000,
      );
      bound.unref();
      daemon.shutdown().then(
        () => {
          clearTimeout(bound);
          logger.info('stopped');
          finish(ExitCode.ok);
        },
        (error: unknown) => {
          clearTimeout(bound);
          logger.error({ err: (error as Error).message }, 'stopping failed: stopping at once');
          daemon.destroy();
          finish(ExitCode.failed);
        },
      );
    };
    // After the control stream has written its answer (the upgrade's done line).
    handedOver = () => setImmediate(() => stop('upgrade'));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      notifier.reloading();
      reloadConfig(options.config, daemon, logger);
      notifier.ready(status.line());
    });
    process.on('SIGUSR2', () => {
      if (stopping) return;
      logger.info('SIGUSR2: upgrading');
      daemon.upgrade().then(
        (done) => logger.info({ ok: done.ok }, `SIGUSR2: ${done.message}`),
        (error: unknown) =>
          logger.error({ err: (error as Error).message }, 'SIGUSR2: upgrade refused'),
      );
    });
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

/** Says why on stderr, and to the daemon that started this one as its successor. */
function reportStartupError(error: unknown, systemd: SystemdEnvironment): number {
  const message = isConfigError(error)
    ? `config error: ${error.message}`
    : `cannot start: ${(error as Error).message}`;
  process.stderr.write(`switchyard: ${message}\n`);
  if (systemd.upgrade !== null) {
    writeHandoverReport(systemd.upgrade.reportFd, { ok: false, pid: process.pid, message });
  }
  return isConfigError(error) ? CONFIG_EXIT_CODE : ExitCode.failed;
}
