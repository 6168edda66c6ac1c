import { z } from 'zod';
import { formatAddress, type ListenAddress, parseAddress, resolveConfigPath } from './address.js';
import { ConfigError } from './config-error.js';
import { parseByteSize, parseDuration, parseFileMode } from './units.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenConfig {
  readonly fastcgi: ListenAddress;
  /** File mode of the FastCGI unix socket. */
  readonly mode: number;
  readonly http: ListenAddress | null;
}

export interface ReleaseConfig {
  /** Absolute path of the `current -> releases/N` symlink. */
  readonly symlink: string;
}

/** Replicas someone else runs: switchyard only routes to them. */
export interface ExternalReplicasConfig {
  readonly kind: 'external';
  readonly addresses: readonly ListenAddress[];
  /** Concurrent requests per replica (pm.max_children). */
  readonly capacity: number;
  readonly idleTimeoutMs: number;
  /** A replica that does not accept a connection within this leaves the rotation. */
  readonly connectTimeoutMs: number;
}

/** What every kind of replica that switchyard starts itself shares. */
export interface ManagedReplicasBase {
  /** Replicas kept running; at least 2 (one serves while another restarts). */
  readonly count: number;
  /** Concurrent requests switchyard routes to one replica. */
  readonly capacity: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Start a replacement beside the old replica first, so capacity never drops. */
  readonly surge: boolean;
}

export interface PhpFpmReplicasConfig extends ManagedReplicasBase {
  readonly kind: 'php-fpm';
  readonly phpFpm: {
    /** Absolute path of the php-fpm binary (looked up on PATH at load time). */
    readonly binary: string;
    /** Absolute path of a file of extra pool directives, or null. */
    readonly pool: string | null;
    /** Worker user and group when switchyard runs as root (php-fpm refuses root workers). */
    readonly user: string;
    readonly group: string;
  };
}

export interface CommandReplicasConfig extends ManagedReplicasBase {
  readonly kind: 'command';
  readonly command: {
    /** argv[0] is an absolute path (looked up on PATH at load time). */
    readonly argv: readonly string[];
    /** Extra environment; `{socket}` in a value is replaced by the replica's socket path. */
    readonly env: Readonly<Record<string, string>>;
  };
}

export type ManagedReplicasConfig = PhpFpmReplicasConfig | CommandReplicasConfig;
export type ReplicasConfig = ExternalReplicasConfig | ManagedReplicasConfig;

export interface HealthConfig {
  /** A real FastCGI request to this path; php-fpm's ping.path is set to it. */
  readonly path: string;
  /** The response body must contain this (and the status be 2xx). */
  readonly expect: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks after which a ready replica is replaced. */
  readonly failures: number;
  /** How long a starting replica has to pass its first check. */
  readonly startTimeoutMs: number;
}

export interface DrainConfig {
  /** Longest wait for a draining replica's in-flight requests before it is stopped anyway. */
  readonly timeoutMs: number;
}

export interface ControlConfig {
  /** Absolute path of the control socket the CLI talks to. */
  readonly socket: string;
  readonly mode: number;
  /** Group that owns the socket, or null to leave it to the daemon's group. */
  readonly group: string | null;
}

export interface PathsConfig {
  /** Replica sockets and generated php-fpm configs (systemd RuntimeDirectory). */
  readonly runtime: string;
  /** Release history and other state that survives a restart (systemd StateDirectory). */
  readonly state: string;
}

export interface LimitsConfig {
  readonly queue: number;
  readonly queueTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxParamsBytes: number;
  readonly retryBodyBytes: number;
}

export interface LogConfig {
  readonly level: LogLevel;
}

export interface Config {
  readonly listen: ListenConfig;
  readonly release: ReleaseConfig;
  readonly replicas: ReplicasConfig;
  readonly health: HealthConfig;
  readonly drain: DrainConfig;
  readonly control: ControlConfig;
  readonly paths: PathsConfig;
  readonly limits: LimitsConfig;
  readonly log: LogConfig;
}

const MIB = 1024 * 1024;

/** A TOML table: unknown keys are errors, so a typo such as `capcity` is reported. */
function table<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown key; known keys: ${known}` : undefined,
  });
}

/** Runs one of the throwing parsers and turns its error into an issue at this key. */
function parsedWith<In, Out>(parse: (value: In) => Out) {
  return (value: In, ctx: z.RefinementCtx<In>): Out => {
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message, input: value });
      return z.NEVER;
    }
  };
}

/** A message for a value of the wrong TOML type; a missing one falls through to "is required". */
function expecting(what: string) {
  return (issue: { code?: string | undefined; input?: unknown }) =>
    (issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input !== undefined
      ? `expected ${what}, got ${describeValue(issue.input)}`
      : undefined;
}

function address(baseDir: string) {
  return z.string().transform(parsedWith((text: string) => parseAddress(text, baseDir)));
}

function duration(options: { positive: boolean }) {
  return z.string({ error: expecting('a duration such as "5s"') }).transform(
    parsedWith((text: string) => {
      const ms = parseDuration(text);
      if (options.positive && ms === 0) throw new Error('must be longer than 0');
      return ms;
    }),
  );
}

function byteSize(options: { positive: boolean }) {
  return z.union([z.string(), z.number()], { error: expecting('a size such as "1MiB"') }).transform(
    parsedWith((value: string | number) => {
      const bytes = parseByteSize(value);
      if (options.positive && bytes === 0) throw new Error('must be larger than 0');
      return bytes;
    }),
  );
}

function listenSchema(baseDir: string) {
  return table({
    fastcgi: address(baseDir),
    mode: z
      .string({
        // 0o660 and 660 are both plain integers once TOML has parsed them: insist on a string.
        error: (issue) =>
          typeof issue.input === 'number'
            ? `write the mode as a quoted octal string, e.g. "0660", got ${issue.input}`
            : undefined,
      })
      .transform(parsedWith(parseFileMode))
      .default(0o660),
    http: z
      .string()
      .transform(
        parsedWith((text: string) => {
          const parsed = parseAddress(text, baseDir);
          if (parsed.kind !== 'tcp') {
            throw new Error(`${JSON.stringify(text)}: the HTTP front needs a TCP host:port`);
          }
          return parsed;
        }),
      )
      .optional(),
  }).transform((listen): ListenConfig => ({ ...listen, http: listen.http ?? null }));
}

function releaseSchema(baseDir: string) {
  return table({
    symlink: z.string().transform(parsedWith((text: string) => resolveConfigPath(text, baseDir))),
  });
}

function externalReplicasSchema(baseDir: string) {
  return table({
    kind: z.literal('external'),
    addresses: z
      .array(address(baseDir))
      .min(2, {
        error: (issue) =>
          `needs at least 2 addresses, got ${(issue.input as unknown[]).length}: ` +
          'zero downtime needs a second replica to serve while one restarts',
      })
      .superRefine((addresses, ctx) => {
        const seen = new Map<string, number>();
        addresses.forEach((entry, index) => {
          const text = formatAddress(entry);
          const first = seen.get(text);
          if (first === undefined) seen.set(text, index);
          else {
            ctx.addIssue({
              code: 'custom',
              path: [index],
              message: `${JSON.stringify(text)} is listed twice (also at [${first}]): each replica needs its own address`,
            });
          }
        });
      }),
    capacity: z.int().positive().default(8),
    idle_timeout: duration({ positive: true }).default(30_000),
    connect_timeout: duration({ positive: true }).default(2_000),
  }).transform(
    (replicas): ExternalReplicasConfig => ({
      kind: replicas.kind,
      addresses: replicas.addresses,
      capacity: replicas.capacity,
      idleTimeoutMs: replicas.idle_timeout,
      connectTimeoutMs: replicas.connect_timeout,
    }),
  );
}

function replicasSchema(baseDir: string) {
  return z.discriminatedUnion('kind', [externalReplicasSchema(baseDir)], {
    error: (issue) => {
      if (issue.code !== 'invalid_union' || !('options' in issue)) return undefined;
      const kinds = `known kinds: ${(issue.options as unknown[]).join(', ')}`;
      const kind = (issue.input as { kind?: unknown } | undefined)?.kind;
      if (kind === undefined) return `is required; ${kinds}`;
      return `unknown kind ${typeof kind === 'string' ? JSON.stringify(kind) : describeValue(kind)}; ${kinds}`;
    },
  });
}

const limitsSchema = table({
  queue: z.int().nonnegative().default(1024),
  // 0 is meaningful here: answer 503 at once instead of waiting for a slot.
  queue_timeout: duration({ positive: false }).default(5_000),
  request_timeout: duration({ positive: true }).default(60_000),
  max_params: byteSize({ positive: true }).default(MIB),
  // 0 turns buffering for retries off.
  retry_body: byteSize({ positive: false }).default(MIB),
}).transform(
  (limits): LimitsConfig => ({
    queue: limits.queue,
    queueTimeoutMs: limits.queue_timeout,
    requestTimeoutMs: limits.request_timeout,
    maxParamsBytes: limits.max_params,
    retryBodyBytes: limits.retry_body,
  }),
);

const logSchema = table({
  level: z.enum(LOG_LEVELS).default('info'),
});

/** The schema of the whole file; `baseDir` (the config file's directory) anchors relative paths. */
export function configSchema(baseDir: string) {
  return table({
    listen: listenSchema(baseDir),
    release: releaseSchema(baseDir),
    replicas: replicasSchema(baseDir),
    limits: limitsSchema.prefault({}),
    log: logSchema.prefault({}),
  }).superRefine((config, ctx) => {
    // Only runs once every table is valid (zod skips refinements after an issue).
    const fastcgi = formatAddress(config.listen.fastcgi);
    if (config.replicas.addresses.some((entry) => formatAddress(entry) === fastcgi)) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen', 'fastcgi'],
        message: `${JSON.stringify(fastcgi)} is also a replica address: switchyard would route to itself`,
      });
    }
    if (config.listen.http !== null && formatAddress(config.listen.http) === fastcgi) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen', 'http'],
        message: `${JSON.stringify(fastcgi)} is also the FastCGI address`,
      });
    }
  });
}

/**
 * Validates parsed TOML into a Config, or throws a ConfigError for the first problem. An
 * unknown key wins over other problems: a typo (`adresses`) also makes a key look missing.
 */
export function validateConfig(data: unknown, baseDir: string, file?: string): Config {
  const result = configSchema(baseDir).safeParse(data, { reportInput: true, error: humanMessage });
  if (result.success) return result.data;
  const { issues } = result.error;
  const issue = issues.find((entry) => entry.code === 'unrecognized_keys') ?? issues[0];
  if (issue === undefined) throw new ConfigError('', 'invalid configuration', { file });
  const path =
    issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  throw new ConfigError(formatKey(path), issue.message, { file });
}

/** `limits.queue_timeout`, `replicas.addresses[1]`; odd keys quoted as TOML would. */
export function formatKey(path: readonly PropertyKey[]): string {
  let key = '';
  for (const segment of path) {
    if (typeof segment === 'number') key += `[${segment}]`;
    else {
      const name = String(segment);
      const bare = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      key += key === '' ? bare : `.${bare}`;
    }
  }
  return key;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'an array',
  object: 'a table',
};

/** Messages for zod's own issues, in the file's terms; schema-level messages take precedence. */
function humanMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) {
        return issue.expected === 'object'
          ? `missing: add a [${formatKey(issue.path ?? [])}] table`
          : 'is required';
      }
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return `expected ${expected}, got ${describeValue(issue.input)}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${issue.minimum} entries`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}, got ${describeValue(issue.input)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, got ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
}

/** The offending value when it is short enough to quote, else just its TOML type. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= 60 ? `string ${JSON.stringify(value)}` : 'a long string';
  }
  if (typeof value === 'number') return `${Number.isInteger(value) ? 'integer' : 'float'} ${value}`;
  if (typeof value === 'boolean') return `boolean ${value}`;
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date-time';
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
}
