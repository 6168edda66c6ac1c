import { formatAddress } from './config/address.js';
import type { Config } from './config/config-types.js';

/** The "switchyard is serving" log line's fields: what listens, what serves, how much. */
export function servingSummary(
  config: Config,
  release: string,
  httpPort: number | null,
  capacity: number,
): Record<string, unknown> {
  const { replicas, sessions } = config;
  return {
    listen: formatAddress(config.listen.fastcgi),
    http:
      httpPort === null || config.listen.http?.kind !== 'tcp'
        ? null
        : `${config.listen.http.host}:${httpPort}`,
    release,
    replicas:
      replicas.kind === 'external'
        ? replicas.addresses.map(formatAddress)
        : `${replicas.count} × ${replicas.kind}`,
    capacity,
    sessions:
      sessions === null
        ? 'off'
        : `${sessions.perSession === 0 ? 'lanes off' : `${sessions.perSession} per session`}, affinity ${sessions.affinity}`,
    control: config.control.socket,
  };
}
