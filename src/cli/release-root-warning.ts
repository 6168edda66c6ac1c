import type { Logger } from 'pino';
import type { Config } from '../config/config-types.js';

/**
 * Said at every daemon start while `release.root` is unset and switchyard runs the replicas:
 * `switchyard deploy` then takes any directory on the host as a release, and `deploy /` would
 * make every `.php` file on it runnable through the site. Only a warning, so existing setups
 * keep starting; the shipped config and the README say to set it.
 */
export function warnIfReleaseRootUnset(config: Config, logger: Logger): void {
  if (config.release.root !== null || config.replicas.kind === 'external') return;
  logger.warn(
    { key: 'release.root', symlink: config.release.symlink },
    'release.root is not set: `switchyard deploy` (and a flip of the symlink) accepts any directory on this host as a release, ' +
      '`deploy /` would let every .php file on the host run; set release.root to the directory that holds your releases',
  );
}
