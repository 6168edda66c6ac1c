import { chownSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/config-types.js';
import type { ControlServer } from './control/control-server.js';
import { watchDirectoryPresence } from './directory-presence.js';
import type { FastCgiFrontend } from './frontend/fastcgi-frontend.js';
import { type ListeningSocketFile, watchSocketFiles } from './net/socket-presence.js';
import type { Deployer } from './release/deployer.js';
import type { Supervisor } from './supervisor/supervisor.js';

export interface RemovalWatchOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly managed: { readonly supervisor: Supervisor; readonly deployer: Deployer } | null;
  /** A deploy, rollback or restart is running: it replaces replicas itself. */
  readonly busy: () => boolean;
  readonly fastcgi: FastCgiFrontend;
  readonly control: ControlServer;
  /** listen.group's gid, given to the FastCGI socket again when it is made again. */
  readonly listenGid: number | null;
}

/**
 * What an `rm -rf` can take from under a running daemon, noticed and put right without a
 * restart: the serving release (back to the last good one), the runtime directory (made
 * again, replicas replaced so their sockets are in it), the FastCGI and control sockets
 * (listened on again). Returns the functions that stop the checks.
 */
export function watchRemovals(options: RemovalWatchOptions): Array<() => void> {
  const { config, logger, managed } = options;
  const stops: Array<() => void> = [];
  if (managed !== null) {
    const { supervisor, deployer } = managed;
    stops.push(
      watchDirectoryPresence(
        () => supervisor.desired.release,
        (release) => {
          const { handled, message } = deployer.recoverFromRemovedRelease();
          if (handled) logger.error({ release }, message);
          return handled;
        },
      ),
      watchDirectoryPresence(
        () => config.paths.runtime,
        (runtime) => {
          try {
            mkdirSync(runtime, { recursive: true, mode: 0o755 });
          } catch (error) {
            logger.error(
              { runtime, err: (error as Error).message },
              `the runtime directory ${runtime} was removed and cannot be made again`,
            );
            return false;
          }
          logger.error(
            { runtime },
            `the runtime directory ${runtime} was removed: made again; replacing the replicas, whose sockets were in it`,
          );
          if (!options.busy()) supervisor.restartAll();
          return true;
        },
        1_000,
      ),
    );
  }
  const sockets: ListeningSocketFile[] = [
    { path: config.control.socket, key: 'control.socket', rebind: () => options.control.rebind() },
  ];
  const { fastcgi } = config.listen;
  if (fastcgi.kind === 'unix') {
    sockets.push({
      path: fastcgi.path,
      key: 'listen.fastcgi',
      rebind: async () => {
        mkdirSync(dirname(fastcgi.path), { recursive: true, mode: 0o755 });
        await options.fastcgi.rebind();
        if (options.listenGid !== null) chownSync(fastcgi.path, -1, options.listenGid);
      },
    });
  }
  stops.push(watchSocketFiles(sockets, logger));
  return stops;
}
