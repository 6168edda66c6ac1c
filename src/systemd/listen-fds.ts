import { ConfigError } from '../config/config-error.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** The names switchyard takes sockets by (`FileDescriptorName=` in switchyard.socket). */
export type ListenFdName = 'fastcgi' | 'control' | 'http';
const KNOWN_NAMES: ReadonlySet<string> = new Set<ListenFdName>(['fastcgi', 'control', 'http']);

/** Listening sockets passed by socket activation (sd_listen_fds_with_names(3)). */
export interface ListenFds {
  readonly byName: ReadonlyMap<ListenFdName, number>;
}

/**
 * Parses LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID. Another process's (LISTEN_PID not this
 * pid) are not ours: none. One socket without a name (`systemd-socket-activate` without
 * `--fdname`) is the FastCGI socket. A name switchyard does not know, or one given twice, is
 * refused as a config error naming the variable (exit 78: the unit and the daemon disagree,
 * which no restart heals); a descriptor left unused would hold a socket nobody serves.
 */
export function parseListenFds(
  count: string | undefined,
  names: string | undefined,
  forPid: string | undefined,
  pid: number,
): ListenFds {
  const byName = new Map<ListenFdName, number>();
  if (count === undefined || forPid === undefined || Number(forPid) !== pid) return { byName };
  if (!/^\d+$/.test(count))
    throw new ConfigError('LISTEN_FDS', `${JSON.stringify(count)} is not a number`);
  const n = Number(count);
  const given = names === undefined || names === '' ? [] : names.split(':');
  if (given.length > 0 && given.length !== n) {
    throw new ConfigError(
      'LISTEN_FDNAMES',
      `names ${given.length} sockets but LISTEN_FDS passes ${n}`,
    );
  }
  for (let i = 0; i < n; i += 1) {
    // systemd names an unnamed socket "unknown"; alone, it can only be the FastCGI one.
    const named = given[i] ?? 'unknown';
    const name = named === 'unknown' && n === 1 ? 'fastcgi' : named;
    if (!KNOWN_NAMES.has(name)) {
      throw new ConfigError(
        'LISTEN_FDNAMES',
        `socket ${i + 1} of LISTEN_FDS is named ${JSON.stringify(name)}: switchyard takes "fastcgi", "control" and "http" (FileDescriptorName= in the socket unit)`,
      );
    }
    if (byName.has(name as ListenFdName)) {
      throw new ConfigError('LISTEN_FDNAMES', `two sockets are named ${JSON.stringify(name)}`);
    }
    byName.set(name as ListenFdName, LISTEN_FDS_START + i);
  }
  return { byName };
}
