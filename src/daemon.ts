import { chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Balancer } from './balancer/balancer.js';
import { balancerOptions } from './balancer-settings.js';
import type { Config, ExternalReplicasConfig } from './config/config-types.js';
import { configInForce } from './config/reload-policy.js';
import { ConfigReloader } from './config-reloader.js';
import { ControlServer } from './control/control-server.js';
import type { DoneEvent } from './control/messages.js';
import { OperationLock } from './control/operation-lock.js';
import { DaemonControl, type ManagedParts } from './daemon-control.js';
import { logExchangeOutcome } from './exchange-outcome-log.js';
import { fastCgiFrontLimits, httpFrontLimits } from './front-limits.js';
import { FastCgiFrontend } from './frontend/fastcgi-frontend.js';
import { HttpFrontend } from './frontend/http-frontend.js';
import { InFlightRequests } from './in-flight-requests.js';
import { fitToDescriptorLimit, raiseDescriptorLimit } from './net/descriptor-limit.js';
import { makeConfiguredDirectory, preflight, resolveRelease } from './preflight.js';
import { Deployer } from './release/deployer.js';
import { resolvedTargetOrNull } from './release/flip-symlink.js';
import { ReleaseHistory } from './release/release-history.js';
import { SymlinkWatcher } from './release/symlink-watcher.js';
import { watchRemovals } from './removal-watches.js';
import type { Exchange, ExchangeOutcome } from './request/exchange.js';
import { releaseHeaderBytes } from './request/release-header.js';
import { makeReleasePinning } from './request/release-pinning.js';
import { servingSummary } from './serving-summary.js';
import { SessionHasher } from './sessions/session-hasher.js';
import { SessionLanes } from './sessions/session-lanes.js';
import { destroyNow, type RunningParts, shutDown } from './shutdown-sequence.js';
import { startReplicasOrRecover } from './start-replicas.js';
import { staticFilesFor } from './static/static-files.js';
import type { SessionSecrets } from './supervisor/stuck-diagnosis-report.js';
import { Supervisor } from './supervisor/supervisor.js';
import { supervisorSettings } from './supervisor-settings.js';
import { type InheritedSockets, inheritedSockets } from './systemd/inherited-sockets.js';
import type { SystemdNotifier } from './systemd/notifier.js';
import { NO_SYSTEMD, type SystemdEnvironment } from './systemd/systemd-environment.js';
import type { HandedSockets } from './upgrade/start-successor.js';
import { ownCommandLine, Upgrader } from './upgrade/upgrader.js';

export interface RunningDaemon {
  readonly balancer: Balancer;
  readonly frontend: FastCgiFrontend;
  readonly http: HttpFrontend | null;
  readonly supervisor: Supervisor | null;
  readonly control: ControlServer;
  /** Deploy, rollback, restart and upgrade take it; STATUS= names what holds it. */
  readonly lock: OperationLock;
  /** `switchyard upgrade` without the CLI (SIGUSR2): the outcome, for the log. */
  upgrade(): Promise<DoneEvent>;
  /** Applies a re-read config (SIGHUP) by replacing replicas; returns what it did or why not. */
  reload(next: Config): string;
  /** Stops accepting, lets every admitted request finish, then closes what is left. */
  shutdown(): Promise<void>;
  /** Stops at once: every client connection is closed. */
  destroy(): void;
}

/** What the daemon command passes besides the config: what systemd (or a predecessor) gave. */
export interface DaemonStartOptions {
  readonly systemd?: SystemdEnvironment;
  /** Tells systemd the new main pid at an upgrade; absent, nothing is sent. */
  readonly notifier?: SystemdNotifier;
  /**
   * A successor took over (`switchyard upgrade`): its pid. The daemon command stops this one
   * gracefully; the socket files are the successor's from now on.
   */
  readonly onHandedOver?: (pid: number) => void;
}

/** The composition root: builds the data plane from a validated config and starts it. */
export async function startDaemon(
  requested: Config,
  logger: Logger,
  options: DaemonStartOptions = {},
): Promise<RunningDaemon> {
  const systemd = options.systemd ?? NO_SYSTEMD;
  // Client connections are bounded below the descriptor limit, raised to its hard limit first.
  const config = fitToDescriptorLimit(requested, raiseDescriptorLimit(logger), logger);
  const { replicas } = config;
  // Managed replicas can fall back on the release history when the symlink leads nowhere.
  const symlinkRelease =
    replicas.kind === 'external'
      ? resolveRelease(config.release.symlink)
      : resolvedTargetOrNull(config.release.symlink);
  // Sockets passed in are checked against the config before anything starts (exit 78).
  const inherited = inheritedSockets(config, systemd.listenFds);
  const listenGid = await preflight(config, inherited.control === null);
  // A successor's replicas run beside its predecessor's until the hand-over: their sockets
  // and php-fpm files must not take the same names (replica-1.1.sock).
  const replicaRuntime =
    systemd.upgrade === null
      ? config.paths.runtime
      : join(config.paths.runtime, `upgrade-${process.pid}`);
  const balancer = new Balancer(balancerOptions(config, logger));
  // One hasher for the lanes and the watchdog: a lock wait names its session as its requests.
  const sessions: SessionSecrets = {
    hasher: new SessionHasher(),
    // Without [sessions], PHP's default session.name may still travel in a query string.
    params: config.sessions?.params ?? ['PHPSESSID'],
  };
  // Deploy, rollback and restart take it; a followed symlink flip holds it.
  const lock = new OperationLock();
  const common = {
    config,
    logger,
    balancer,
    lock,
    listenGid,
    inherited,
    replicaRuntime,
    sessions,
    systemd,
    notifier: options.notifier ?? null,
    onHandedOver: options.onHandedOver ?? (() => {}),
  };
  if (replicas.kind === 'external') {
    const release = symlinkRelease ?? '';
    addExternalReplicas(balancer, replicas, config, release);
    return serve({ ...common, release, managed: null });
  }
  const { managed, release } = await startManaged(
    config,
    replicaRuntime,
    symlinkRelease,
    balancer,
    lock,
    logger,
    sessions,
  );
  try {
    return await serve({ ...common, release, managed });
  } catch (error) {
    // Whatever cannot start after the replicas (a front, the control socket) must not leave
    // workers behind.
    await managed.supervisor.shutdown(0);
    throw error;
  }
}

/** Replicas switchyard does not run: one pool each, all on the symlink's release. */
function addExternalReplicas(
  balancer: Balancer,
  replicas: ExternalReplicasConfig,
  config: Config,
  release: string,
): void {
  replicas.addresses.forEach((address, index) => {
    balancer.add({
      id: `replica-${index + 1}`,
      address,
      capacity: replicas.capacity,
      release,
      pinning: makeReleasePinning(config.release.symlink, release),
      responseHeader: releaseHeaderBytes(config.response.releaseHeader, release),
    });
  });
}

/**
 * Starts the managed replicas (on the symlink's release, or the last good one) and the
 * deployer over them. Returns them with the release they serve.
 */
async function startManaged(
  config: Config,
  replicaRuntime: string,
  symlinkRelease: string | null,
  balancer: Balancer,
  lock: OperationLock,
  logger: Logger,
  sessions: SessionSecrets,
): Promise<{ readonly managed: ManagedParts; readonly release: string }> {
  // 0755: the web server must reach listen.fastcgi when it lives here (the default); what
  // else is inside is owner-only (replica sockets, php-fpm configs, the control socket).
  makeConfiguredDirectory(config.paths.runtime, 0o755, 'paths.runtime');
  makeConfiguredDirectory(config.paths.state, 0o755, 'paths.state');
  const history = ReleaseHistory.load(config.paths.state, logger);
  const { supervisor, release } = await startReplicasOrRecover({
    config,
    logger,
    history,
    symlinkRelease,
    unresolved: () => resolveRelease(config.release.symlink),
    newSupervisor: (on) =>
      new Supervisor({
        settings: supervisorSettings(withReplicaRuntime(config, replicaRuntime), logger),
        balancer,
        symlink: config.release.symlink,
        release: on,
        logger,
        sessions,
      }),
  });
  const deployer = new Deployer({
    supervisor,
    history,
    symlink: config.release.symlink,
    root: config.release.root,
    timeoutMs: config.deploy.timeoutMs,
    logger,
    lock,
  });
  return { managed: { supervisor, deployer, history }, release };
}

interface ServeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly release: string;
  readonly balancer: Balancer;
  readonly managed: ManagedParts | null;
  readonly lock: OperationLock;
  /** listen.group's gid, for the FastCGI socket. */
  readonly listenGid: number | null;
  /** Listening sockets passed in (socket activation, an upgrade). */
  readonly inherited: InheritedSockets;
  /** Where the replicas' sockets and files go: paths.runtime, or a successor's own below it. */
  readonly replicaRuntime: string;
  /** The session hasher the lanes share with the watchdog, and the session parameters. */
  readonly sessions: SessionSecrets;
  readonly systemd: SystemdEnvironment;
  readonly notifier: SystemdNotifier | null;
  readonly onHandedOver: (pid: number) => void;
}

/** Starts the fronts, the control socket and the symlink watcher over running replicas. */
async function serve(options: ServeOptions): Promise<RunningDaemon> {
  const { config, logger, release, balancer, managed, lock, listenGid, inherited } = options;
  const { replicas } = config;
  const supervisor = managed?.supervisor ?? null;
  const replicaCount = replicas.kind === 'external' ? replicas.addresses.length : replicas.count;
  const capacity = replicas.capacity * replicaCount;
  // Before the fronts start: an outcome can arrive while the second one starts.
  const inFlight = new InFlightRequests();
  const onOutcome = (exchange: Exchange, outcome: ExchangeOutcome) => {
    logExchangeOutcome(logger, exchange, outcome);
    inFlight.ended();
  };
  // Fronts → static files → session lanes → admission queue → balancer (see ARCHITECTURE.md).
  const lanes =
    config.sessions === null
      ? null
      : new SessionLanes(balancer, { ...config.sessions, logger, hasher: options.sessions.hasher });
  const serving = () => balancer.servingRelease;
  const dispatcher =
    staticFilesFor(config, lanes ?? balancer, serving, managed?.history ?? null, logger) ??
    lanes ??
    balancer;
  const fastcgi = await FastCgiFrontend.start(
    config.listen.fastcgi,
    config.listen.mode,
    {
      dispatcher,
      logger,
      limits: fastCgiFrontLimits(config, capacity),
      onOutcome,
      // A request aborted before its params were complete has no outcome, only a removal.
      onRequestRemoved: inFlight.ended,
    },
    inherited.fastcgi,
  );
  inFlight.add(fastcgi);
  // A socket passed in has the socket unit's owner and mode: never changed here.
  if (listenGid !== null && config.listen.fastcgi.kind === 'unix' && inherited.fastcgi === null) {
    chownSync(config.listen.fastcgi.path, -1, listenGid);
  }
  // Filled once the fronts listen: an upgrade hands over what accepts.
  const listening: { http: HttpFrontend | null; control: ControlServer | null } = {
    http: null,
    control: null,
  };
  const upgrader = new Upgrader({
    lock,
    logger,
    sockets: () => handedSockets(fastcgi, listening.control, listening.http, config),
    argv: ownCommandLine(),
    notifySocket: options.systemd.notifySocket,
    watchdogUsec: options.systemd.watchdogUsec,
    // Its replicas start, pass their health checks and warm up, as at any start.
    timeoutMs: config.health.startTimeoutMs * 2 + config.deploy.warmupTimeoutMs + 10_000,
    handOver: (pid) => {
      fastcgi.keepSocketFile();
      listening.control?.keepSocketFile();
      options.notifier?.mainPid(pid);
      options.onHandedOver(pid);
    },
  });
  const controlHandler = new DaemonControl({ config, balancer, managed, lanes, lock, upgrader });
  const control = await ControlServer.start(
    config.control,
    controlHandler,
    logger,
    undefined,
    inherited.control,
  );
  listening.control = control;
  // Periodic checks for what an operator's rm -rf takes away.
  const watches = watchRemovals({
    config,
    logger,
    managed,
    busy: () => lock.busy,
    fastcgi,
    control,
    listenGid,
  });
  // Deploy tools that flip the symlink themselves (ln -sfn, Deployer, Capistrano) are followed.
  const deployer = managed?.deployer ?? null;
  const watcher =
    deployer === null
      ? null
      : await SymlinkWatcher.start(
          config.release.symlink,
          (resolved) => deployer.followSymlink(resolved),
          { logger },
        );
  const http =
    config.listen.http === null
      ? null
      : await HttpFrontend.start(
          config.listen.http,
          {
            dispatcher,
            logger,
            limits: httpFrontLimits(config),
            site: { documentRoot: config.release.symlink, index: 'index.php' },
            onOutcome,
          },
          inherited.http,
        );
  listening.http = http;
  if (http !== null) inFlight.add(http);
  logger.info(
    servingSummary(config, release, http?.port ?? null, capacity),
    'switchyard is serving',
  );

  const reloader = new ConfigReloader({
    config,
    lock,
    logger,
    apply: (next) => {
      controlHandler.setConfig(configInForce(config, next));
      // Sockets and state stay where the daemon started them.
      supervisor?.reconfigure(
        supervisorSettings(
          withReplicaRuntime({ ...next, paths: config.paths }, options.replicaRuntime),
          logger,
        ),
      );
    },
  });
  const parts: RunningParts = {
    watches,
    deployer,
    fronts: http === null ? [fastcgi] : [fastcgi, http],
    inFlight,
    watcher,
    control,
    balancer,
    supervisor,
  };
  return {
    balancer,
    frontend: fastcgi,
    http,
    supervisor,
    control,
    lock,
    upgrade: () => upgrader.upgrade({}),
    reload: (next) => reloader.reload(next),
    shutdown: async () => {
      upgrader.abort();
      await shutDown(parts, logger);
      // A successor's own directory for its replicas goes with it.
      if (options.replicaRuntime !== config.paths.runtime) {
        rmSync(options.replicaRuntime, { recursive: true, force: true });
      }
    },
    destroy: () => {
      upgrader.abort();
      destroyNow(parts);
    },
  };
}

/** The config with the replicas' runtime directory replaced (a successor's own, see startDaemon). */
function withReplicaRuntime(config: Config, runtime: string): Config {
  return runtime === config.paths.runtime
    ? config
    : { ...config, paths: { ...config.paths, runtime } };
}

/** What accepts now, for a successor; or why it cannot be handed over. */
function handedSockets(
  fastcgi: FastCgiFrontend,
  control: ControlServer | null,
  http: HttpFrontend | null,
  config: Config,
): HandedSockets | string {
  const fastcgiFd = fastcgi.listeningFd;
  const controlFd = control?.listeningFd ?? null;
  const httpFd = http?.listeningFd ?? null;
  if (fastcgiFd === null) return 'the FastCGI socket is not listening (stopping?)';
  if (controlFd === null) return 'the control socket is not listening (stopping?)';
  if (config.listen.http !== null && httpFd === null) return 'the HTTP front is not listening';
  return { fastcgi: fastcgiFd, control: controlFd, http: httpFd };
}
