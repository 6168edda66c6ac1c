import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config/config-error.js';
import type { Config } from '../config/config-types.js';

export interface DescriptorLimit {
  readonly soft: number;
  readonly hard: number;
}

/** RLIMIT_NOFILE of this process, from /proc (node has no getrlimit); null when unreadable. */
export function readDescriptorLimit(limitsText?: string): DescriptorLimit | null {
  let text = limitsText;
  try {
    text ??= readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (match === null) return null;
  const value = (field: string | undefined) =>
    field === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(field);
  return { soft: value(match[1]), hard: value(match[2]) };
}

/**
 * Raises the soft descriptor limit to the hard one, as servers do at start (systemd's default
 * soft limit is 1024). Node has no setrlimit: util-linux's prlimit does it for this pid.
 * Returns the limit in force afterwards.
 */
export function raiseDescriptorLimit(logger: Logger): DescriptorLimit | null {
  const before = readDescriptorLimit();
  if (before === null || before.soft >= before.hard) return before;
  try {
    execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${before.hard}:${before.hard}`], {
      stdio: 'ignore',
      timeout: 5_000,
    });
  } catch (error) {
    logger.warn(
      { soft: before.soft, hard: before.hard, err: (error as Error).message },
      'cannot raise the file descriptor limit to its hard limit (prlimit failed): keeping the soft one',
    );
    return before;
  }
  return readDescriptorLimit() ?? before;
}

/** Descriptors kept for everything but client connections: replicas, control, logs, files. */
export function reservedDescriptors(config: Config): number {
  const { replicas } = config;
  if (replicas.kind === 'external') {
    return BASE_RESERVE + replicas.addresses.length * (replicas.capacity + 4);
  }
  // Replicas at once: a stopping one beside its replacement, and with surge (true, or "auto"
  // whenever the memory allows) a whole second set during a deploy. Per replica: a connection
  // per slot, the health check and probe, its socket and files, the start's directory watch,
  // and per process started three (two output pipes and the lifeline): php-fpm's master is
  // one (its children write through it), a command replica's capacity + 1 processes each.
  const slots = replicas.surge !== false ? replicas.count * 2 + 1 : replicas.count + 1;
  const perReplica =
    replicas.kind === 'php-fpm' ? replicas.capacity + 10 : 4 * replicas.capacity + 10;
  return BASE_RESERVE + slots * perReplica;
}

/** Control connections, the symlink watcher, log and state files, and room to spare. */
const BASE_RESERVE = 192;
/** Fewer client connections than this per front is no service at all. */
const MIN_CONNECTIONS = 16;

/**
 * The config with `limits.max_connections` fitted under the descriptor limit, so the process
 * cannot run out of descriptors however many clients connect: what the replicas need is kept
 * aside and the rest is shared by the fronts. A cap lower than configured is logged; a limit
 * too low for any service is a config error naming the key (exit 78).
 */
export function fitToDescriptorLimit(
  config: Config,
  limit: DescriptorLimit | null,
  logger: Logger,
): Config {
  if (limit === null) return config;
  // The HTTP front may hold as many connections again while refusing them with a 503.
  const shares = config.listen.http === null ? 1 : 3;
  const reserved = reservedDescriptors(config);
  const perFront = Math.floor((limit.soft - reserved) / shares);
  if (perFront >= config.limits.maxConnections) return config;
  if (perFront < MIN_CONNECTIONS) {
    throw new ConfigError(
      'limits.max_connections',
      `the file descriptor limit is ${limit.soft} and the replicas (replicas.count, replicas.capacity) need about ${reserved}: too few are left for client connections; raise it (systemd: LimitNOFILE=, shell: ulimit -n) or run fewer, smaller replicas`,
    );
  }
  logger.warn(
    { configured: config.limits.maxConnections, effective: perFront, nofile: limit.soft, reserved },
    `limits.max_connections lowered to ${perFront} per front to stay under the file descriptor limit (${limit.soft}); raise LimitNOFILE= for more`,
  );
  return { ...config, limits: { ...config.limits, maxConnections: perFront } };
}
