import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Where one incarnation of a php-fpm replica keeps its files, all in the runtime directory. */
export interface PhpFpmFiles {
  /** The generated master config, `<runtime>/<name>.<incarnation>.conf`. */
  readonly config: string;
  /** The pool's listening socket, `<runtime>/<name>.<incarnation>.sock`. */
  readonly socket: string;
  readonly pid: string;
  /** php-fpm's slow log (`[watchdog] slowlog`), `<runtime>/<name>.<incarnation>.slow.log`. */
  readonly slowlog: string;
}

export interface PhpFpmConfigInput {
  /** `replica-1`: also the pool's name, which php-fpm puts in its log lines. */
  readonly name: string;
  readonly incarnation: number;
  /** The pinned release directory: the children's chdir and SWITCHYARD_RELEASE_DIR. */
  readonly release: string;
  /** Requests switchyard routes to the replica at once. */
  readonly capacity: number;
  readonly runtimeDir: string;
  readonly health: { readonly path: string; readonly expect: string };
  /** pm.status_path: see unguessableStatusPath. */
  readonly statusPath: string;
  /** process_control_timeout: how long a graceful stop (SIGQUIT) lets requests run. */
  readonly drainTimeoutMs: number;
  /** Only when switchyard runs as root: php-fpm needs a user for its children then. */
  readonly runAs: { readonly user: string; readonly group: string } | null;
  /** The extra pool directives file (config `phpFpm.pool`): its path and its text, or null. */
  readonly pool: { readonly path: string; readonly directives: string } | null;
  /** request_slowlog_timeout in ms (whole seconds), or null/absent: no slow log. */
  readonly slowlogMs?: number | null;
}

/**
 * A pm.status_path nobody can guess, one per launcher (per daemon run). php-fpm answers its
 * status page to any request whose SCRIPT_NAME names it, whatever the web server meant (a
 * front-controller config passes the client's path as SCRIPT_NAME), and the full page lists
 * every child's pid and request URI: other users' query strings. Only switchyard asks for it
 * (the watchdog's diagnosis). It cannot be the health path: that one is plain and chosen.
 */
export function unguessableStatusPath(): string {
  return `/switchyard-status-${randomBytes(12).toString('hex')}`;
}

export function phpFpmFiles(runtimeDir: string, name: string, incarnation: number): PhpFpmFiles {
  const base = join(runtimeDir, `${name}.${incarnation}`);
  return {
    config: `${base}.conf`,
    socket: `${base}.sock`,
    pid: `${base}.pid`,
    slowlog: `${base}.slow.log`,
  };
}

/**
 * A string as php-fpm's ini parser reads it back unchanged. php-fpm parses its config with the
 * INI_SCANNER_NORMAL scanner, where a bare value is not safe for arbitrary text: `;` starts a
 * comment, `yes`/`off`/`none` turn into "1"/"", a bare word naming a PHP constant is replaced by
 * its value, `${VAR}` is expanded. So every string is double-quoted, with `\`, `"` and `$`
 * escaped by a backslash (checked against parse_ini_string: `\$` keeps `${HOME}` literal).
 * php-fpm reads its file line by line, so a line break cannot be expressed at all.
 *
 * php-fpm then replaces `$pool` by the pool's name in pool values (ping.response included),
 * escaped or not: a value containing it is refused rather than silently changed.
 */
export function iniString(value: string): string {
  if (hasControlCharacter(value)) {
    throw new Error(`${JSON.stringify(value)}: php-fpm's config cannot hold control characters`);
  }
  if (value.includes('$pool')) {
    throw new Error(`${JSON.stringify(value)}: php-fpm would replace "$pool" by the pool's name`);
  }
  return `"${value.replace(/[\\"$]/g, (char) => `\\${char}`)}"`;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Pool (section) names: php-fpm prints them in every log line; keep them plain. */
const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The php-fpm master config of one replica incarnation: a [global] section and one pool. Pure:
 * the caller reads the pool file and writes the result. Directive values switchyard chooses
 * come first; the user's own pool directives (config `phpFpm.pool`) follow verbatim, so php-fpm
 * reads them last (validation keeps them to directives only, no section header).
 */
export function renderPhpFpmConfig(input: PhpFpmConfigInput): string {
  const { name, capacity, health } = input;
  if (!POOL_NAME.test(name) || name === 'global') {
    throw new Error(`${JSON.stringify(name)} cannot name a php-fpm pool`);
  }
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new Error(`capacity must be a positive integer, got ${capacity}`);
  }
  if (!health.path.startsWith('/')) {
    throw new Error(`health path ${JSON.stringify(health.path)} must start with "/"`);
  }
  if (!Number.isFinite(input.drainTimeoutMs) || input.drainTimeoutMs < 0) {
    throw new Error(`drain timeout must be a duration in ms, got ${input.drainTimeoutMs}`);
  }
  const slowlogMs = input.slowlogMs ?? null;
  if (slowlogMs !== null && (!Number.isInteger(slowlogMs / 1000) || slowlogMs < 1000)) {
    throw new Error(`the slow log timeout must be whole seconds, got ${slowlogMs} ms`);
  }
  const files = phpFpmFiles(input.runtimeDir, name, input.incarnation);
  // php-fpm takes whole seconds; 0 would mean "no graceful stop" (SIGQUIT acting as SIGTERM).
  const controlTimeoutS = Math.max(1, Math.ceil(input.drainTimeoutMs / 1000));
  const lines = [
    `; Generated by switchyard for ${name}, incarnation ${input.incarnation}: do not edit,`,
    '; it is rewritten on every start of the replica.',
    '',
    '[global]',
    `pid = ${iniString(files.pid)}`,
    // Foreground, so switchyard is the master's parent and sees it exit. Started with -O, php-fpm
    // logs to its stderr (a pipe switchyard reads), so no error_log is set.
    'daemonize = no',
    // A graceful stop (SIGQUIT) lets children finish their requests for this long, then the
    // master terminates them: the drain timeout.
    `process_control_timeout = ${controlTimeoutS}s`,
    'log_level = notice',
    '',
    `[${name}]`,
    `listen = ${iniString(files.socket)}`,
    // Only switchyard connects: the socket stays its own (it runs the master, so owns the file).
    'listen.mode = 0600',
  ];
  if (input.runAs !== null) {
    // The master runs as root (with -R); its children must not. switchyard connects as root, so
    // listen.owner/listen.group need not change.
    lines.push(`user = ${iniString(input.runAs.user)}`, `group = ${iniString(input.runAs.group)}`);
  }
  lines.push(
    'pm = static',
    // One child more than switchyard routes requests to: with every routed slot busy, a health
    // check still finds a free child instead of queueing behind a slow request and timing out.
    `pm.max_children = ${capacity + 1}`,
    `ping.path = ${iniString(health.path)}`,
    `ping.response = ${iniString(health.expect === '' ? 'pong' : health.expect)}`,
    `pm.status_path = ${iniString(input.statusPath)}`,
    `chdir = ${iniString(input.release)}`,
    // Children's stdout/stderr reach the master's log (switchyard's pipe), undecorated.
    'catch_workers_output = yes',
    'decorate_workers_output = no',
    // The children see switchyard's environment, plus where their release is and which
    // replica they are (an application may log it; the session affinity tests read it).
    'clear_env = no',
    `env[SWITCHYARD_RELEASE_DIR] = ${iniString(input.release)}`,
    `env[SWITCHYARD_REPLICA] = ${iniString(input.name)}`,
  );
  if (slowlogMs !== null) {
    // The master traces a child past the timeout (ptrace) and appends its PHP backtrace here;
    // switchyard forwards each entry to its log (slowlog-forwarder.ts). Without ptrace php-fpm
    // still logs "executing too slow" on its stderr, which reaches the log with the replica.
    lines.push(
      `request_slowlog_timeout = ${slowlogMs / 1000}s`,
      `slowlog = ${iniString(files.slowlog)}`,
    );
  }
  if (input.pool !== null) {
    const directives = input.pool.directives;
    lines.push(
      '',
      `; Pool directives from ${input.pool.path.replace(/[\r\n]/g, ' ')}:`,
      directives.endsWith('\n') ? directives.slice(0, -1) : directives,
    );
  }
  return `${lines.join('\n')}\n`;
}
