import type { ListenAddress } from '../config/address.js';
import { ConfigError } from '../config/config-error.js';
import type { Config } from '../config/config-types.js';
import { boundFor } from '../net/unix-socket-file.js';
import type { ListenFdName, ListenFds } from './listen-fds.js';
import { type BoundAddress, boundAddress } from './socket-address.js';

/** The listening descriptors passed in, by what they serve; null where the daemon binds itself. */
export interface InheritedSockets {
  readonly fastcgi: number | null;
  readonly control: number | null;
  readonly http: number | null;
}

/**
 * Matches the sockets passed in against the config. One bound elsewhere than its key says is a
 * config error naming the key (exit 78), not a warning: the web server and `switchyard`'s CLI
 * find the daemon through the config, and a unit that disagrees with it would serve where
 * nobody looks, or leave the configured path to a second daemon. It does not heal by restarting.
 */
export function inheritedSockets(config: Config, fds: ListenFds): InheritedSockets {
  const check = (name: ListenFdName, key: string, address: ListenAddress | null) => {
    const fd = fds.byName.get(name) ?? null;
    if (fd === null) return null;
    if (address === null) {
      throw new ConfigError(
        key,
        `a socket named "${name}" is passed in (LISTEN_FDS), but ${key} is not set`,
      );
    }
    const bound = boundAddress(fd);
    if (!sameAddress(bound, address)) {
      throw new ConfigError(
        key,
        `the socket passed in as "${name}" (fd ${fd}) is ${describe(bound)}, not ${describeAddress(address)}: make the socket unit's ListenStream= and ${key} name the same socket`,
      );
    }
    return fd;
  };
  return {
    fastcgi: check('fastcgi', 'listen.fastcgi', config.listen.fastcgi),
    control: check('control', 'control.socket', { kind: 'unix', path: config.control.socket }),
    http: check('http', 'listen.http', config.listen.http),
  };
}

function sameAddress(bound: BoundAddress, address: ListenAddress): boolean {
  if (bound.kind === 'unix') return address.kind === 'unix' && boundFor(bound.path, address.path);
  if (bound.kind === 'tcp') return address.kind === 'tcp' && bound.port === address.port;
  return false;
}

function describe(bound: BoundAddress): string {
  if (bound.kind === 'unix') return `bound to ${bound.path}`;
  if (bound.kind === 'tcp') return `bound to TCP port ${bound.port}`;
  return 'not a listening unix or TCP socket';
}

function describeAddress(address: ListenAddress): string {
  return address.kind === 'unix' ? address.path : `TCP port ${address.port}`;
}
