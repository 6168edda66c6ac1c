import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from './repo-root.js';
import { launchServer, type RunningServer, startOnFreePort } from './server-process.js';

/** The shipped snippet; the tests run it with only its two paths substituted. */
export const apacheSnippetPath = join(repoRoot, 'deploy/apache/switchyard.conf');
const SNIPPET_SOCKET = '/run/switchyard/app.sock';
const SNIPPET_DOCUMENT_ROOT = '/srv/app/current/public';

/** Debian's layout; other builds put the modules elsewhere. */
const MODULES_DIR = '/usr/lib/apache2/modules';

/** Apache refuses to serve as root, so a root test run drops its children to this user. */
const CHILD_USER = 'daemon';

export interface ApacheOptions {
  readonly binary: string;
  /** Directory for the config, pid file, runtime files and error log. */
  readonly dir: string;
  /** Unix socket path of switchyard's FastCGI listener. */
  readonly fastcgiAddress: string;
  readonly documentRoot: string;
  /** Modules beside the ones the snippet needs (`xsendfile`, `env`), from the same directory. */
  readonly extraModules?: readonly string[];
  /** Config text included in the virtual host after the snippet (another shipped snippet). */
  readonly extraSnippet?: string;
}

/**
 * `output` is what the parent wrote to stdout/stderr, then the error log; `stop` is SIGWINCH
 * (graceful-stop), then SIGKILL to the process group if it has not exited in time.
 */
export type RunningApache = RunningServer;

/** deploy/apache/switchyard.conf with the socket and document root of a test. */
export function apacheSnippet(fastcgiAddress: string, documentRoot: string): string {
  const snippet = readFileSync(apacheSnippetPath, 'utf8');
  // A snippet edited away from these paths would silently stop being what the tests run.
  for (const path of [SNIPPET_SOCKET, SNIPPET_DOCUMENT_ROOT]) {
    if (!snippet.includes(path)) throw new Error(`${apacheSnippetPath} no longer has ${path}`);
  }
  return snippet
    .replaceAll(SNIPPET_SOCKET, fastcgiAddress)
    .replaceAll(SNIPPET_DOCUMENT_ROOT, documentRoot);
}

/**
 * httpd.conf text for one foreground Apache (event MPM, one child to start with) that
 * includes the shipped snippet in a virtual host. Only modules the snippet needs are loaded.
 */
export function apacheConfig(
  options: Omit<ApacheOptions, 'binary'> & { port: number; readyToken: string; user?: string },
): string {
  const { dir } = options;
  const modules = [
    'mpm_event',
    'authz_core',
    'dir',
    'proxy',
    'proxy_fcgi',
    ...(options.extraModules ?? []),
  ];
  return [
    `ServerRoot ${dir}`,
    `DefaultRuntimeDir ${dir}`,
    `PidFile ${join(dir, 'apache.pid')}`,
    // Not stderr: vitest's pipes are socket pairs, which /dev/stderr cannot be opened on.
    `ErrorLog ${join(dir, 'error.log')}`,
    'LogLevel warn',
    ...modules.map((name) => `LoadModule ${name}_module ${MODULES_DIR}/mod_${name}.so`),
    ...(options.user === undefined ? [] : [`User ${options.user}`, `Group ${options.user}`]),
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${options.port}`,
    'StartServers 1',
    'ServerLimit 4',
    'ThreadsPerChild 32',
    'MaxRequestWorkers 128',
    // Load generators reuse connections; do not cut them after 100 requests.
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    // Bounds a graceful-stop; the caller's SIGKILL comes after it.
    'GracefulShutdownTimeout 5',
    '<Directory />',
    '    Require all denied',
    '</Directory>',
    `<VirtualHost 127.0.0.1:${options.port}>`,
    ...apacheSnippet(options.fastcgiAddress, options.documentRoot)
      .split('\n')
      .map((line) => (line === '' ? '' : `    ${line}`)),
    ...(options.extraSnippet ?? '').split('\n').map((line) => (line === '' ? '' : `    ${line}`)),
    // Answers the readiness probe from the config alone: no file the child user must read.
    '    <Location "/.harness-ready">',
    '        Require all denied',
    `        ErrorDocument 403 "${options.readyToken}"`,
    '    </Location>',
    '</VirtualHost>',
    '',
  ].join('\n');
}

/**
 * Starts a real Apache httpd in the foreground (-DFOREGROUND: the parent stays, children fork)
 * with its own config in `dir`, on a free port of 127.0.0.1. Resolves once that Apache answers
 * HTTP; a port taken between picking and binding is retried on another.
 *
 * As root, the children run as `daemon`: the socket and the document root must be reachable
 * by that user (a mkdtemp directory is 0700), which is checked here with a clear message.
 */
export async function startApache(options: ApacheOptions): Promise<RunningApache> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    assertReachableByOthers(dirname(options.fastcgiAddress));
    assertReachableByOthers(options.documentRoot);
  }
  const config = join(options.dir, 'httpd.conf');
  return startOnFreePort('apache', async (port, readyToken) => {
    writeFileSync(
      config,
      apacheConfig({ ...options, port, readyToken, ...(asRoot ? { user: CHILD_USER } : {}) }),
    );
    await testConfig(options.binary, config);
    return launchServer({
      name: 'apache',
      binary: options.binary,
      args: ['-DFOREGROUND', '-f', config],
      port,
      readyToken,
      logFile: join(options.dir, 'error.log'),
      stopSignal: 'SIGWINCH',
      // GracefulShutdownTimeout is 5 s; past it plus a margin, nothing is waited for.
      stopTimeoutMs: 8_000,
    });
  });
}

/** Throws unless every directory above `path`, and above what it resolves to, is o+x. */
function assertReachableByOthers(path: string): void {
  for (const start of [resolve(path), realpathSync(path)]) {
    for (let dir = start; ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) {
        throw new Error(
          `apache's children run as ${CHILD_USER} and cannot reach ${path}: ${dir} is not o+x`,
        );
      }
      if (dir === '/') break;
    }
  }
}

function testConfig(binary: string, config: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['-t', '-f', config], (error, stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`apache -t refused ${config}:\n${stdout}${stderr}`));
    });
  });
}
