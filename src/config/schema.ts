import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import {
  formatAddress,
  type ListenAddress,
  parseAddress,
  parseSocketPath,
  resolveConfigPath,
} from './address.js';
import { ConfigError } from './config-error.js';
import {
  AFFINITY_MODES,
  type CommandReplicasConfig,
  type Config,
  type ControlConfig,
  type DeployConfig,
  type DrainConfig,
  type ExternalReplicasConfig,
  type HealthConfig,
  type LimitsConfig,
  type ListenConfig,
  LOG_LEVELS,
  type ManagedReplicasBase,
  type PhpFpmReplicasConfig,
  type ReleaseConfig,
  type ResponseConfig,
  type SessionsConfig,
  STATIC_HEADERS,
  STATIC_RELEASE_MODES,
  type StaticConfig,
  type WatchdogConfig,
} from './config-types.js';
import { DEFAULT_CONTROL_SOCKET } from './control-socket.js';
import { checkPoolFile } from './php-fpm-pool.js';
import { resolveProgram } from './program.js';
import { HEADER_TOKEN, releaseHeaderNameProblem } from './release-header-name.js';

import { isRootAccount } from './root-account.js';
import { parseByteSize, parseDuration, parseFileMode } from './units.js';

const MIB = 1024 * 1024;
/** Room "auto" surge leaves beside the extra replicas: the rest of the host, page cache. */
const DEFAULT_SURGE_MARGIN = 256 * MIB;
/** Room past one whole request's params and body: answers and records in flight. */
const CONNECTION_BUFFER_SLACK = MIB;

/** Keys a table rejects with a message of their own; see misplaced(). */
const MISPLACED = new WeakSet<z.core.$ZodType>();

/**
 * A key that belongs in another kind of table (`addresses` with kind "php-fpm"): rejected with
 * `message`, which says where it belongs, and left out of the table's known keys.
 */
function misplaced(message: string) {
  const schema = z.never({ error: message }).optional();
  MISPLACED.add(schema);
  return schema;
}

/** A TOML table: unknown keys are errors, so a typo such as `capcity` is reported. */
function table<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.entries(shape)
    .filter(([, schema]) => !MISPLACED.has(schema))
    .map(([key]) => key)
    .join(', ');
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

/** An address switchyard listens on: a unix socket it creates, so not under /proc or /sys. */
function listenAddress(baseDir: string) {
  return address(baseDir).transform(
    parsedWith((parsed: ListenAddress) => {
      if (parsed.kind === 'unix') refuseKernelPath(parsed.path);
      return parsed;
    }),
  );
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

function byteSize(options: { positive: boolean; max?: number }) {
  return z.union([z.string(), z.number()], { error: expecting('a size such as "1MiB"') }).transform(
    parsedWith((value: string | number) => {
      const bytes = parseByteSize(value);
      if (options.positive && bytes === 0) throw new Error('must be larger than 0');
      if (options.max !== undefined && bytes > options.max) {
        throw new Error(`${JSON.stringify(value)} is too large: at most ${formatMib(options.max)}`);
      }
      return bytes;
    }),
  );
}

function formatMib(bytes: number): string {
  return `${bytes / MIB}MiB`;
}

function fileMode(fallback: number) {
  const example = `"0${fallback.toString(8)}"`;
  return z
    .string({
      // 0o660 and 660 are both plain integers once TOML has parsed them: insist on a string.
      error: (issue) =>
        typeof issue.input === 'number'
          ? `write the mode as a quoted octal string, e.g. ${example}, got ${issue.input}`
          : undefined,
    })
    .transform(parsedWith(parseFileMode))
    .default(fallback);
}

function configPath(baseDir: string) {
  return z.string().transform(parsedWith((text: string) => resolveConfigPath(text, baseDir)));
}

/** Kernel file systems: a directory made there is not a directory (and mkdir may spin). */
const KERNEL_FILE_SYSTEMS = ['/proc', '/sys'] as const;

/** A path switchyard creates and writes (runtime, state, control socket): not under /proc or /sys. */
function writablePath(baseDir: string) {
  return configPath(baseDir).transform(parsedWith(refuseKernelPath));
}

function refuseKernelPath(path: string): string {
  // By where it leads too: /dev/fd is a symlink into /proc.
  for (const candidate of [path, resolvedAncestry(path)]) {
    const kernel = KERNEL_FILE_SYSTEMS.find(
      (root) => candidate === root || candidate.startsWith(`${root}/`),
    );
    if (kernel !== undefined) {
      const via = candidate === path ? '' : ` (through ${candidate})`;
      throw new Error(
        `${JSON.stringify(path)} is under ${kernel}${via}, where nothing can be created`,
      );
    }
  }
  return path;
}

/** `path` with its longest existing ancestor replaced by that ancestor's realpath. */
function resolvedAncestry(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (existing !== dirname(existing)) {
    try {
      return join(realpathSync(existing), ...rest.reverse());
    } catch {
      rest.push(basename(existing));
      existing = dirname(existing);
    }
  }
  return path;
}

/** A bare program name (looked up on PATH) or a path; the output is absolute. */
function program(baseDir: string) {
  return z.string().transform(parsedWith((text: string) => resolveProgram(text, baseDir)));
}

const ACCOUNT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/;

/** A user or group name; it ends up in generated config files, so nothing but a name. */
function accountName(what: 'user' | 'group') {
  return z.string().refine((text) => ACCOUNT_NAME.test(text), {
    error: (issue) => `${JSON.stringify(issue.input)} is not a ${what} name`,
  });
}

function listenSchema(baseDir: string) {
  return table({
    fastcgi: listenAddress(baseDir),
    mode: fileMode(0o660),
    group: accountName('group').optional(),
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
  }).transform(
    (listen): ListenConfig => ({
      ...listen,
      group: listen.group ?? null,
      http: listen.http ?? null,
    }),
  );
}

function releaseSchema(baseDir: string) {
  return table({
    symlink: configPath(baseDir),
    root: configPath(baseDir).optional(),
  }).transform(
    (release): ReleaseConfig => ({ symlink: release.symlink, root: release.root ?? null }),
  );
}

const ZERO_DOWNTIME = 'zero downtime needs a second replica to serve while one restarts';
/** Each replica is a process tree with its own socket: beyond this it is a typo. */
const MAX_REPLICAS = 64;
/** Requests one replica runs at once (php-fpm children): beyond this it is a typo. */
const MAX_CAPACITY = 4096;

const REPLICA_KINDS = ['external', 'php-fpm', 'command'] as const;
type ReplicaKind = (typeof REPLICA_KINDS)[number];

/** A `[replicas]` key of other kinds (`addresses` with kind "php-fpm"), rejected in this one. */
function onlyFor(owners: string, kind: ReplicaKind) {
  return misplaced(`only for kind ${owners}, not "${kind}"`);
}

function externalReplicasSchema(baseDir: string) {
  return table({
    kind: z.literal('external'),
    addresses: z
      .array(address(baseDir))
      .min(2, {
        error: (issue) =>
          `needs at least 2 addresses, got ${(issue.input as unknown[]).length}: ${ZERO_DOWNTIME}`,
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
    capacity: z
      .int()
      .positive()
      .max(MAX_CAPACITY, { error: `at most ${MAX_CAPACITY}` })
      .default(8),
    idle_timeout: duration({ positive: true }).default(30_000),
    connect_timeout: duration({ positive: true }).default(2_000),
    count: misplaced('not used with kind "external": the number of addresses is the count'),
    surge: onlyFor('"php-fpm" or "command"', 'external'),
    surge_margin: onlyFor('"php-fpm" or "command"', 'external'),
    php_fpm: onlyFor('"php-fpm"', 'external'),
    command: onlyFor('"command"', 'external'),
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

/** The `[replicas]` keys every kind that switchyard starts itself shares. */
const managedShape = {
  count: z
    .int()
    .min(2, {
      error: (issue) => `must be at least 2, got ${String(issue.input)}: ${ZERO_DOWNTIME}`,
    })
    .max(MAX_REPLICAS, { error: `at most ${MAX_REPLICAS}` })
    .default(2),
  capacity: z
    .int()
    .positive()
    .max(MAX_CAPACITY, { error: `at most ${MAX_CAPACITY}` })
    .default(8),
  surge: z
    .union([z.boolean(), z.literal('auto')], { error: expecting('true, false or "auto"') })
    .default('auto'),
  surge_margin: byteSize({ positive: false }).default(DEFAULT_SURGE_MARGIN),
  idle_timeout: duration({ positive: true }).default(30_000),
  connect_timeout: duration({ positive: true }).default(2_000),
};

function managedBase(replicas: z.output<z.ZodObject<typeof managedShape>>): ManagedReplicasBase {
  return {
    count: replicas.count,
    capacity: replicas.capacity,
    idleTimeoutMs: replicas.idle_timeout,
    connectTimeoutMs: replicas.connect_timeout,
    surge: replicas.surge,
    surgeMarginBytes: replicas.surge_margin,
  };
}

function phpFpmTableSchema(baseDir: string) {
  return table({
    binary: program(baseDir).prefault('php-fpm8.2'),
    pool: configPath(baseDir)
      .transform(
        parsedWith((path: string) => {
          checkPoolFile(path);
          return path;
        }),
      )
      .optional(),
    // php-fpm refuses to run workers as root, and switchyard runs as root under systemd.
    user: accountName('user').default('www-data'),
    group: accountName('group').optional(),
    allow_root_workers: z.boolean().default(false),
  })
    .superRefine((phpFpm, ctx) => {
      if (!phpFpm.allow_root_workers && isRootAccount(phpFpm.user)) {
        ctx.addIssue({
          code: 'custom',
          path: ['user'],
          message: `${JSON.stringify(phpFpm.user)} is root: PHP would run with every privilege of the host; use an unprivileged user such as "www-data", or set allow_root_workers = true`,
        });
      }
    })
    .transform((phpFpm): PhpFpmReplicasConfig['phpFpm'] => ({
      binary: phpFpm.binary,
      pool: phpFpm.pool ?? null,
      user: phpFpm.user,
      group: phpFpm.group ?? phpFpm.user,
      allowRootWorkers: phpFpm.allow_root_workers,
    }));
}

function phpFpmReplicasSchema(baseDir: string) {
  return table({
    kind: z.literal('php-fpm'),
    ...managedShape,
    // Every key has a default: `kind = "php-fpm"` alone runs the distribution's php-fpm.
    php_fpm: phpFpmTableSchema(baseDir).prefault({}),
    addresses: onlyFor('"external"', 'php-fpm'),
    command: onlyFor('"command"', 'php-fpm'),
  }).transform(
    (replicas): PhpFpmReplicasConfig => ({
      kind: replicas.kind,
      ...managedBase(replicas),
      phpFpm: replicas.php_fpm,
    }),
  );
}

/** argv[0] becomes an absolute path; an issue about it is reported at `argv[0]`. */
function resolveArgv(baseDir: string) {
  return (argv: string[], ctx: z.RefinementCtx<string[]>): string[] => {
    const [name = '', ...args] = argv;
    try {
      return [resolveProgram(name, baseDir), ...args];
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: [0], message: (error as Error).message, input: name });
      return z.NEVER;
    }
  };
}

function commandTableSchema(baseDir: string) {
  return table({
    argv: z
      .array(z.string())
      .min(1, { error: 'must name the program to run, e.g. ["php-cgi"]' })
      .transform(resolveArgv(baseDir)),
    env: z.record(z.string(), z.string()).default({}),
  });
}

function commandReplicasSchema(baseDir: string) {
  return table({
    kind: z.literal('command'),
    ...managedShape,
    command: commandTableSchema(baseDir),
    addresses: onlyFor('"external"', 'command'),
    php_fpm: onlyFor('"php-fpm"', 'command'),
  }).transform(
    (replicas): CommandReplicasConfig => ({
      kind: replicas.kind,
      ...managedBase(replicas),
      command: replicas.command,
    }),
  );
}

function replicasSchema(baseDir: string) {
  const options = [
    externalReplicasSchema(baseDir),
    phpFpmReplicasSchema(baseDir),
    commandReplicasSchema(baseDir),
  ] as const;
  return z.discriminatedUnion('kind', options, {
    error: (issue) => {
      if (issue.code !== 'invalid_union' || !('options' in issue)) return undefined;
      const kinds = `known kinds: ${REPLICA_KINDS.join(', ')}`;
      const kind = (issue.input as { kind?: unknown } | undefined)?.kind;
      if (kind === undefined) return `is required; ${kinds}`;
      return `unknown kind ${typeof kind === 'string' ? JSON.stringify(kind) : describeValue(kind)}; ${kinds}`;
    },
  });
}

/**
 * A path switchyard requests itself (a health check, a warm-up): it becomes SCRIPT_NAME and
 * REQUEST_URI, and the health path is written into php-fpm's config, so one plain path.
 */
function requestPath(example: string) {
  return z.string().transform(
    parsedWith((text: string) => {
      if (!text.startsWith('/')) {
        throw new Error(`${JSON.stringify(text)} must start with "/", e.g. "${example}"`);
      }
      if (/[\s\p{Cc}]/u.test(text)) {
        throw new Error(`${JSON.stringify(text)} must not contain spaces or control characters`);
      }
      const unusual = unusualPath(text);
      if (unusual !== null) {
        throw new Error(`${JSON.stringify(text)} ${unusual}: write it as a web server sends it`);
      }
      return text;
    }),
  );
}

/**
 * Why the requests made for `text` would not be for `text` itself: they are built as the HTTP
 * front builds a request (protocol/cgi-params.ts), which refuses a `..` segment or a broken
 * %-escape and merges `//` and `/./` as nginx does (php-fpm matches ping.path as sent).
 */
function unusualPath(text: string): string | null {
  const question = text.indexOf('?');
  const path = question === -1 ? text : text.slice(0, question);
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return 'has a broken %-escape';
  const segments = path
    .replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    )
    .split('/')
    .slice(1);
  for (const [index, segment] of segments.entries()) {
    if (segment === '..' || segment === '.') return `has a ${segment} segment`;
    if (segment === '' && index < segments.length - 1) return 'has an empty segment (//)';
  }
  return null;
}

const healthSchema = table({
  path: requestPath('/fpm-ping').default('/fpm-ping'),
  // Written into php-fpm's config as ping.response: one line. "" accepts any 2xx answer.
  expect: z
    .string()
    .refine((text) => !/\p{Cc}/u.test(text), {
      error: 'must be one line without control characters',
    })
    .default('pong'),
  interval: duration({ positive: true }).default(5_000),
  timeout: duration({ positive: true }).default(2_000),
  failures: z.int().positive().default(3),
  start_timeout: duration({ positive: true }).default(30_000),
}).transform(
  (health): HealthConfig => ({
    path: health.path,
    expect: health.expect,
    intervalMs: health.interval,
    timeoutMs: health.timeout,
    failures: health.failures,
    startTimeoutMs: health.start_timeout,
  }),
);

const drainSchema = table({
  // Not 0: stopping a replica without waiting cuts its in-flight requests, the very thing
  // switchyard exists to avoid.
  timeout: duration({ positive: true }).default(30_000),
}).transform((drain): DrainConfig => ({ timeoutMs: drain.timeout }));

function controlSchema(baseDir: string) {
  return table({
    socket: z
      .string()
      .transform(parsedWith((text: string) => refuseKernelPath(parseSocketPath(text, baseDir))))
      .default(DEFAULT_CONTROL_SOCKET),
    // Anyone who can connect can deploy and restart: owner only unless a group is named.
    mode: fileMode(0o600),
    group: accountName('group').optional(),
  }).transform(
    (control): ControlConfig => ({
      socket: control.socket,
      mode: control.mode,
      group: control.group ?? null,
    }),
  );
}

function pathsSchema(baseDir: string) {
  return table({
    runtime: writablePath(baseDir).default('/run/switchyard'),
    state: writablePath(baseDir).default('/var/lib/switchyard'),
  });
}

const deploySchema = table({
  // Requested from each new replica before it takes traffic, so the first visitors after a
  // deploy do not pay for opcache's compilation. A query string is allowed.
  warmup: z.array(requestPath('/index.php')).default([]),
  warmup_timeout: duration({ positive: true }).default(10_000),
  // Not 0: a deploy that may not take any time at all could never succeed.
  timeout: duration({ positive: true }).default(300_000),
}).transform(
  (deploy): DeployConfig => ({
    warmup: deploy.warmup,
    warmupTimeoutMs: deploy.warmup_timeout,
    timeoutMs: deploy.timeout,
  }),
);

function parseHeaderName(text: string): string {
  const problem = releaseHeaderNameProblem(text);
  if (problem !== null) throw new Error(problem);
  return text;
}

const responseSchema = table({
  release_header: z.string().transform(parsedWith(parseHeaderName)).optional(),
}).transform((response): ResponseConfig => ({ releaseHeader: response.release_header ?? null }));

const limitsSchema = table({
  queue: z.int().nonnegative().max(1_000_000).default(1024),
  // 0 is meaningful here: answer 503 at once instead of waiting for a slot.
  queue_timeout: duration({ positive: false }).default(5_000),
  request_timeout: duration({ positive: true }).default(60_000),
  max_params: byteSize({ positive: true, max: 16 * MIB }).default(MIB),
  // 0 turns buffering for retries off.
  retry_body: byteSize({ positive: false, max: 256 * MIB }).default(MIB),
  max_connections: z.int().positive().max(1_000_000).default(1024),
  requests_per_connection: z.int().positive().max(1024).default(16),
  // Defaults to what one whole request may hold: its params and its held body, plus answers.
  connection_buffer: byteSize({ positive: true, max: 1024 * MIB }).optional(),
  params_timeout: duration({ positive: true }).default(10_000),
  // Above the web servers' own keep-alive times for upstream connections (nginx: 60 s), so
  // the web server, not switchyard, is the one that lets an idle connection go.
  client_idle_timeout: duration({ positive: true }).default(120_000),
})
  .superRefine((limits, ctx) => {
    // Held views count their whole read, and answers queued for the client count too.
    const needed = limits.max_params + limits.retry_body + CONNECTION_BUFFER_SLACK;
    if (limits.connection_buffer !== undefined && limits.connection_buffer < needed) {
      ctx.addIssue({
        code: 'custom',
        path: ['connection_buffer'],
        message: `must hold one whole request: at least max_params + retry_body + 1MiB (${needed} bytes)`,
      });
    }
  })
  .transform(
    (limits): LimitsConfig => ({
      queue: limits.queue,
      queueTimeoutMs: limits.queue_timeout,
      requestTimeoutMs: limits.request_timeout,
      maxParamsBytes: limits.max_params,
      retryBodyBytes: limits.retry_body,
      maxConnections: limits.max_connections,
      requestsPerConnection: limits.requests_per_connection,
      connectionBufferBytes:
        limits.connection_buffer ?? limits.max_params + limits.retry_body + CONNECTION_BUFFER_SLACK,
      paramsTimeoutMs: limits.params_timeout,
      clientIdleTimeoutMs: limits.client_idle_timeout,
    }),
  );

const DEFAULT_WARN_LANE = 8;

/** RFC 6265 cookie-name (an RFC 7230 token), which is also what PHP's session.name allows. */
const COOKIE_NAME = HEADER_TOKEN;
/** A query parameter name: anything but the separators, spaces and control characters. */
const PARAM_NAME = /^[^&=#;+\s\p{Cc}%]+$/u;

function nameList(pattern: RegExp, what: string, example: string) {
  return z
    .array(
      z.string().refine((text) => pattern.test(text), {
        error: (issue) => `${JSON.stringify(issue.input)} is not a ${what}, e.g. "${example}"`,
      }),
    )
    .max(16, { error: 'at most 16 names' })
    .refine((names) => new Set(names).size === names.length, { error: 'names a key twice' });
}

/**
 * `[sessions]`: present means lanes on (per_session = 1) unless said otherwise. lane_timeout
 * defaults to limits.queue_timeout, so it is resolved in the whole-file schema.
 */
const sessionsSchema = table({
  cookies: nameList(COOKIE_NAME, 'cookie name', 'PHPSESSID').default(['PHPSESSID']),
  params: nameList(PARAM_NAME, 'query parameter name', '_s').default([]),
  per_session: z.int().nonnegative().max(1024).default(1),
  // Waiters are kept in arrival order in an array: a lane longer than this is a client's doing.
  lane_queue: z.int().positive().max(1024).default(64),
  lane_timeout: duration({ positive: true }).optional(),
  max_waiting: z.int().positive().max(1_000_000).default(4096),
  // Defaults to 8, or less when lane_queue is that short (see sessionsConfig).
  warn_lane: z.int().positive().max(1024).optional(),
  affinity: z.enum(AFFINITY_MODES).default('none'),
  // Below 1 no replica could take its share; the usual choice is 1.25 (Mirrokni et al.).
  affinity_load: z.number().min(1).max(100).default(1.25),
}).superRefine((sessions, ctx) => {
  if (sessions.cookies.length === 0 && sessions.params.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['cookies'],
      message: 'names no cookie and params names no parameter: nothing could carry a session',
    });
  }
  if (sessions.warn_lane !== undefined && sessions.warn_lane >= sessions.lane_queue) {
    ctx.addIssue({
      code: 'custom',
      path: ['warn_lane'],
      message: `must be below lane_queue (${sessions.lane_queue}): a lane never holds more, so the warning could never fire`,
    });
  }
});

const DEFAULT_INTERNAL_LOCATION = '/_switchyard_releases/';

/** `public`, `web/`, `./public`: a relative path without `..`, normalised; '' for the release itself. */
function parseDocumentRoot(text: string): string {
  if (text.startsWith('/')) {
    throw new Error(`${JSON.stringify(text)} must be relative to each release, e.g. "public"`);
  }
  if (/\p{Cc}/u.test(text)) throw new Error('must not contain control characters');
  const segments = text.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) {
    throw new Error(`${JSON.stringify(text)} leads out of the release ("..")`);
  }
  return segments.join('/');
}

/** nginx matches the redirect's URI against it and decodes %XX in it: plain characters only. */
function parseInternalLocation(text: string): string {
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]+\/$/.test(text) || text.split('/').some(isDotSegment)) {
    throw new Error(
      `${JSON.stringify(text)} is not a location prefix: "/", letters, digits and -._~ between, a "/" at the end, e.g. "${DEFAULT_INTERNAL_LOCATION}"`,
    );
  }
  return text;
}

function isDotSegment(segment: string): boolean {
  return segment === '.' || segment === '..';
}

/**
 * CGI's own params, and HTTP_* (the client's request headers: a client could set it): either
 * would mark requests as static that the web server's config did not.
 */
const NOT_A_STATIC_PARAM =
  /^(HTTP_.*|AUTH_TYPE|CONTENT_(LENGTH|TYPE)|DOCUMENT_(ROOT|URI)|GATEWAY_INTERFACE|HTTPS|PATH_(INFO|TRANSLATED)|QUERY_STRING|REDIRECT_STATUS|REMOTE_.*|REQUEST_.*|SCRIPT_.*|SERVER_.*)$/i;

function parseStaticParam(text: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) {
    throw new Error(
      `${JSON.stringify(text)} is not a FastCGI param name, e.g. "SWITCHYARD_STATIC"`,
    );
  }
  if (NOT_A_STATIC_PARAM.test(text)) {
    throw new Error(
      `${JSON.stringify(text)} is a param web servers send on their own (or a client's header): every request would count as static; use another, e.g. "SWITCHYARD_STATIC"`,
    );
  }
  return text;
}

/** PHP's default session.name. */
const PHP_SESSION_COOKIE = 'PHPSESSID';

/** `[static]`: present means on; release.root is required (checked in the whole-file schema). */
const staticSchema = table({
  header: z.enum(STATIC_HEADERS),
  document_root: z.string().transform(parsedWith(parseDocumentRoot)).default(''),
  internal_location: z.string().transform(parsedWith(parseInternalLocation)).optional(),
  release: z.enum(STATIC_RELEASE_MODES).default('serving'),
  cookie: z
    .string()
    .refine((text) => COOKIE_NAME.test(text), {
      error: (issue) =>
        `${JSON.stringify(issue.input)} is not a cookie name, e.g. "switchyard_release"`,
    })
    .refine((text) => text !== PHP_SESSION_COOKIE, {
      error: `"${PHP_SESSION_COOKIE}" is PHP's session cookie: every answer would replace the client's session id; use another, e.g. "switchyard_release"`,
    })
    .default('switchyard_release'),
  param: z.string().transform(parsedWith(parseStaticParam)).default('SWITCHYARD_STATIC'),
})
  .superRefine((table, ctx) => {
    if (table.header === 'x-sendfile' && table.internal_location !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['internal_location'],
        message:
          'only for header = "x-accel-redirect" (nginx); X-Sendfile names the file by its absolute path',
      });
    }
  })
  .transform(
    (table): StaticConfig => ({
      header: table.header,
      documentRoot: table.document_root,
      internalLocation:
        table.header === 'x-accel-redirect'
          ? (table.internal_location ?? DEFAULT_INTERNAL_LOCATION)
          : null,
      release: table.release,
      cookie: table.cookie,
      param: table.param,
    }),
  );

/** `stuck_workers`: a count of slots, or "all" of them. */
function parseStuckWorkers(value: number | string): number | 'all' {
  if (value === 'all') return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`expected an integer of at least 1 or "all", got ${describeValue(value)}`);
  }
  return value;
}

/** `slowlog`: false, or a duration php-fpm can take (whole seconds: request_slowlog_timeout). */
function parseSlowlog(value: false | string): number | null {
  if (value === false) return null;
  const ms = parseDuration(value);
  if (ms < 1000 || ms % 1000 !== 0) {
    throw new Error(
      `${JSON.stringify(value)}: php-fpm's request_slowlog_timeout takes whole seconds, at least "1s"; false turns the slow log off`,
    );
  }
  return ms;
}

/**
 * `[watchdog]`: always in force (a stuck replica is replaced by default). abandon_after defaults
 * to drain.timeout, and stuck_workers and slowlog depend on [replicas]: resolved in the
 * whole-file schema.
 */
const watchdogSchema = table({
  // Not 0: every request would count as stuck the moment it starts.
  stuck_after: duration({ positive: true }).default(60_000),
  stuck_workers: z
    .union([z.int(), z.string()], { error: expecting('an integer of at least 1 or "all"') })
    .transform(parsedWith(parseStuckWorkers))
    .default('all'),
  // Not 0: the END_REQUEST of an aborted request needs a moment to arrive.
  abandon_after: duration({ positive: true }).optional(),
  slowlog: z
    .union([z.literal(false), z.string()], {
      error: expecting('a duration such as "5s", or false'),
    })
    .transform(parsedWith(parseSlowlog))
    .default(null),
});

const logSchema = table({
  level: z.enum(LOG_LEVELS).default('info'),
});

/** The schema of the whole file; `baseDir` (the config file's directory) anchors relative paths. */
export function configSchema(baseDir: string) {
  return table({
    listen: listenSchema(baseDir),
    release: releaseSchema(baseDir),
    replicas: replicasSchema(baseDir),
    health: healthSchema.prefault({}),
    drain: drainSchema.prefault({}),
    control: controlSchema(baseDir).prefault({}),
    paths: pathsSchema(baseDir).prefault({}),
    deploy: deploySchema.prefault({}),
    response: responseSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    sessions: sessionsSchema.optional(),
    static: staticSchema.optional(),
    watchdog: watchdogSchema.prefault({}),
    log: logSchema.prefault({}),
  })
    .superRefine((config, ctx) => {
      // Only runs once every table is valid (zod skips refinements after an issue).
      const fastcgi = formatAddress(config.listen.fastcgi);
      const { replicas } = config;
      if (
        replicas.kind === 'external' &&
        replicas.addresses.some((entry) => formatAddress(entry) === fastcgi)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['listen', 'fastcgi'],
          message: `${JSON.stringify(fastcgi)} is also a replica address: switchyard would route to itself`,
        });
      }
      if (fastcgi === `unix:${config.control.socket}`) {
        ctx.addIssue({
          code: 'custom',
          path: ['control', 'socket'],
          message: `${JSON.stringify(config.control.socket)} is also the FastCGI socket (listen.fastcgi)`,
        });
      }
      const { sessions, limits } = config;
      // With lanes off (per_session = 0) no request waits in a lane: its timeout is moot.
      if (sessions !== undefined && sessions.per_session > 0) {
        const laneTimeout = sessions.lane_timeout ?? limits.queueTimeoutMs;
        const inherited = sessions.lane_timeout === undefined ? ' (from limits.queue_timeout)' : '';
        if (laneTimeout === 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['sessions', 'lane_timeout'],
            message:
              'is 0 (from limits.queue_timeout): every request behind another of its session would get 503 at once; set sessions.lane_timeout, or per_session = 0 to turn lanes off',
          });
        } else if (laneTimeout >= limits.requestTimeoutMs) {
          ctx.addIssue({
            code: 'custom',
            path: ['sessions', 'lane_timeout'],
            message: `${laneTimeout} ms${inherited} is not shorter than limits.request_timeout (${limits.requestTimeoutMs} ms): a waiting request would get 504 before its lane could answer 503`,
          });
        }
      }
      if (config.static !== undefined && config.release.root === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['release', 'root'],
          message:
            'is required with [static]: static files are named relative to it (nginx aliases it, X-Sendfile is allowed under it), and only releases under it are served',
        });
      }
      if (config.static !== undefined && config.sessions?.cookies.includes(config.static.cookie)) {
        ctx.addIssue({
          code: 'custom',
          path: ['static', 'cookie'],
          message: `${JSON.stringify(config.static.cookie)} is a session cookie of [sessions]: every answer would replace the client's session id; use another, e.g. "switchyard_release"`,
        });
      }
      const { watchdog } = config;
      if (
        typeof watchdog.stuck_workers === 'number' &&
        watchdog.stuck_workers > replicas.capacity
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['watchdog', 'stuck_workers'],
          message: `${watchdog.stuck_workers} is more than replicas.capacity (${replicas.capacity}): a replica never has more slots stuck, so it would never be replaced; use at most ${replicas.capacity}, or "all"`,
        });
      }
      if (watchdog.slowlog !== null && replicas.kind !== 'php-fpm') {
        ctx.addIssue({
          code: 'custom',
          path: ['watchdog', 'slowlog'],
          message: `only for replicas.kind "php-fpm", not "${replicas.kind}": the slow log is php-fpm's own (request_slowlog_timeout); set it to false`,
        });
      }
      if (config.listen.http !== null && formatAddress(config.listen.http) === fastcgi) {
        ctx.addIssue({
          code: 'custom',
          path: ['listen', 'http'],
          message: `${JSON.stringify(fastcgi)} is also the FastCGI address`,
        });
      }
    })
    .transform(
      ({ sessions, static: staticFiles, watchdog, ...config }): Config => ({
        ...config,
        sessions: sessions === undefined ? null : sessionsConfig(sessions, config.limits),
        static: staticFiles ?? null,
        watchdog: watchdogConfig(watchdog, config.drain),
      }),
    );
}

function sessionsConfig(
  sessions: z.output<typeof sessionsSchema>,
  limits: LimitsConfig,
): SessionsConfig {
  return {
    cookies: sessions.cookies,
    params: sessions.params,
    perSession: sessions.per_session,
    laneQueue: sessions.lane_queue,
    laneTimeoutMs: sessions.lane_timeout ?? limits.queueTimeoutMs,
    maxWaiting: sessions.max_waiting,
    // A lane of lane_queue holds at most that many: the default warns before it is full.
    warnLane: sessions.warn_lane ?? Math.min(DEFAULT_WARN_LANE, sessions.lane_queue - 1),
    affinity: sessions.affinity,
    affinityLoad: sessions.affinity_load,
  };
}

function watchdogConfig(
  watchdog: z.output<typeof watchdogSchema>,
  drain: DrainConfig,
): WatchdogConfig {
  return {
    stuckAfterMs: watchdog.stuck_after,
    stuckWorkers: watchdog.stuck_workers,
    // An aborted request's worker gets as long to finish as a draining replica's requests.
    abandonAfterMs: watchdog.abandon_after ?? drain.timeoutMs,
    slowlogMs: watchdog.slowlog,
  };
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
