import { mkdirSync, realpathSync } from 'node:fs';
import { ConfigError } from './config/config-error.js';
import type { Config } from './config/config-types.js';
import { resolveGroup } from './config/group-id.js';
import { ControlClient } from './control/control-client.js';

/**
 * What must hold before any replica starts, so a failure costs nothing: the groups exist, and
 * no other daemon runs with this config (its replicas' sockets and files would be taken over).
 * Returns the FastCGI socket's gid.
 */
export async function preflight(
  config: Config,
  /** False when the control socket is passed in (socket activation, an upgrade): it is ours. */
  probeControlSocket = true,
): Promise<number | null> {
  const listenGid =
    config.listen.group === null
      ? null
      : resolveGroup(config.listen.group, undefined, 'listen.group');
  if (config.control.group !== null) resolveGroup(config.control.group);
  if (!probeControlSocket) return listenGid;
  const other = await new ControlClient(config.control.socket).status().then(
    (status) => status,
    () => null,
  );
  if (other !== null) {
    throw new Error(
      `another switchyard daemon (pid ${other.pid}) already runs with control socket ${config.control.socket}: stop it first`,
    );
  }
  return listenGid;
}

/**
 * Creates a directory the config names, before any replica starts: one that cannot be made
 * (read-only file system, a file in the way, no permission) is the config's problem, and is
 * reported as such (exit 78) rather than as a crash later.
 */
export function makeConfiguredDirectory(path: string, mode: number, key: string): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigError(key, `cannot create ${path}: ${code ?? message}`);
  }
}

/** The release the replicas serve: where the symlink points now. */
export function resolveRelease(symlink: string): string {
  try {
    return realpathSync(symlink);
  } catch (error) {
    throw new ConfigError(
      'release.symlink',
      `${symlink} does not resolve to a release directory (${(error as NodeJS.ErrnoException).code})`,
    );
  }
}
