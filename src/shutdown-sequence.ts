import type { Logger } from 'pino';
import type { Balancer } from './balancer/balancer.js';
import type { ControlServer } from './control/control-server.js';
import type { InFlightRequests } from './in-flight-requests.js';
import type { Deployer } from './release/deployer.js';
import type { SymlinkWatcher } from './release/symlink-watcher.js';
import type { Supervisor } from './supervisor/supervisor.js';

/** A front clients reach the daemon through (FastCGI, HTTP). */
export interface ClientFront {
  /** Stops accepting; admitted requests finish, idle connections close. */
  shutdown(): void;
  stopAccepting(): void;
  /** Closes every client connection at once. */
  destroyAll(): void;
}

/** What a running daemon stops, in the order of `shutDown`. */
export interface RunningParts {
  /** Stop the removal checks. */
  readonly watches: ReadonlyArray<() => void>;
  readonly deployer: Deployer | null;
  readonly fronts: readonly ClientFront[];
  readonly inFlight: InFlightRequests;
  readonly watcher: SymlinkWatcher | null;
  readonly control: ControlServer;
  readonly balancer: Balancer;
  readonly supervisor: Supervisor | null;
}

/**
 * The graceful stop: every admitted request finishes on the replicas that took it, and the
 * replicas stop last.
 */
export async function shutDown(parts: RunningParts, logger: Logger): Promise<void> {
  // First: closing removes socket files, which the removal checks would put back.
  for (const stop of parts.watches) stop();
  // A switch before its cut-over puts a flipped symlink back, so the next start is on a tried release.
  parts.deployer?.stop();
  for (const front of parts.fronts) front.shutdown();
  if (parts.inFlight.active > 0) {
    logger.info({ inFlight: parts.inFlight.active }, 'waiting for in-flight requests');
    await parts.inFlight.untilIdle();
  }
  await parts.watcher?.close();
  await parts.control.close();
  parts.balancer.close();
  for (const front of parts.fronts) front.destroyAll();
  if (parts.supervisor !== null) {
    logger.info('stopping replicas');
    await parts.supervisor.shutdown();
  }
}

/** Stops at once: every client connection is closed, the replicas are told to stop. */
export function destroyNow(parts: RunningParts): void {
  for (const stop of parts.watches) stop();
  parts.deployer?.stop();
  for (const front of parts.fronts) {
    front.stopAccepting();
    front.destroyAll();
  }
  void parts.watcher?.close();
  void parts.control.close();
  parts.balancer.close();
  // Workers get SIGTERM from the kernel too when this process exits (see the launchers).
  if (parts.supervisor !== null) void parts.supervisor.shutdown(0);
}
