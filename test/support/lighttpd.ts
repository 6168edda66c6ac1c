import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';
import { launchServer, type RunningServer, startOnFreePort } from './server-process.js';

/** The shipped snippet; the tests run it with only its paths and host substituted. */
export const lighttpdSnippetPath = join(repoRoot, 'deploy/lighttpd/switchyard.conf');
const SNIPPET_SOCKET = '/run/switchyard/app.sock';
const SNIPPET_DOCUMENT_ROOT = '/srv/app/current/public';
const SNIPPET_HOST = '"app.example.com"';

export interface LighttpdOptions {
  readonly binary: string;
  /** Directory for the config, pid file, error log and buffered request bodies. */
  readonly dir: string;
  /** Unix socket path of switchyard's FastCGI listener. */
  readonly fastcgiAddress: string;
  readonly documentRoot: string;
  /** Config text after the snippet (another shipped snippet), given the site's host. */
  readonly extraSnippet?: (host: string) => string;
}

/**
 * `output` is what lighttpd wrote to stdout/stderr, then the error log; `stop` is SIGINT
 * (graceful shutdown), then SIGKILL to the process group if it has not exited in time.
 */
export type RunningLighttpd = RunningServer;

/** deploy/lighttpd/switchyard.conf with the socket, document root and host of a test. */
export function lighttpdSnippet(
  fastcgiAddress: string,
  documentRoot: string,
  host: string,
): string {
  const snippet = readFileSync(lighttpdSnippetPath, 'utf8');
  // A snippet edited away from these values would silently stop being what the tests run.
  for (const value of [SNIPPET_SOCKET, SNIPPET_DOCUMENT_ROOT, SNIPPET_HOST]) {
    if (!snippet.includes(value)) throw new Error(`${lighttpdSnippetPath} no longer has ${value}`);
  }
  return snippet
    .replaceAll(SNIPPET_SOCKET, fastcgiAddress)
    .replaceAll(SNIPPET_DOCUMENT_ROOT, documentRoot)
    .replaceAll(SNIPPET_HOST, JSON.stringify(host));
}

/**
 * lighttpd.conf text: the server around the shipped snippet, every path inside `dir`. The
 * snippet's site is matched on the Host clients of `http://127.0.0.1:<port>` send; other hosts
 * get an empty document root, so a snippet that stopped matching fails loudly.
 */
export function lighttpdConfig(
  options: Omit<LighttpdOptions, 'binary'> & { port: number; readyFile: string },
): string {
  const { dir } = options;
  return [
    `server.port = ${options.port}`,
    'server.bind = "127.0.0.1"',
    `server.document-root = "${join(dir, 'no-site')}"`,
    `server.pid-file = "${join(dir, 'lighttpd.pid')}"`,
    // Not stderr: vitest's pipes are socket pairs, which /dev/stderr cannot be opened on.
    `server.errorlog = "${join(dir, 'error.log')}"`,
    // Request bodies are buffered to files before they go to FastCGI: not in /var/tmp.
    `server.upload-dirs = ("${dir}")`,
    // Load generators reuse connections; do not cut them after 1000 requests.
    'server.max-keep-alive-requests = 100000',
    // Bounds a graceful shutdown; the caller's SIGKILL comes after it.
    'server.feature-flags = ("server.graceful-shutdown-timeout" => 5)',
    'server.modules = ("mod_alias")',
    `alias.url = ("/.harness-ready" => "${options.readyFile}")`,
    lighttpdSnippet(options.fastcgiAddress, options.documentRoot, `127.0.0.1:${options.port}`),
    options.extraSnippet?.(`127.0.0.1:${options.port}`) ?? '',
  ].join('\n');
}

/**
 * Starts a real lighttpd in the foreground (-D) with its own config in `dir`, on a free port
 * of 127.0.0.1. Resolves once that lighttpd answers HTTP; a port taken between picking and
 * binding is retried on another.
 */
export async function startLighttpd(options: LighttpdOptions): Promise<RunningLighttpd> {
  const config = join(options.dir, 'lighttpd.conf');
  const readyFile = join(options.dir, 'ready.txt');
  mkdirSync(join(options.dir, 'no-site'), { recursive: true });
  return startOnFreePort('lighttpd', async (port, readyToken) => {
    writeFileSync(readyFile, readyToken);
    writeFileSync(config, lighttpdConfig({ ...options, port, readyFile }));
    await testConfig(options.binary, config);
    return launchServer({
      name: 'lighttpd',
      binary: options.binary,
      args: ['-D', '-f', config],
      port,
      readyToken,
      logFile: join(options.dir, 'error.log'),
      // SIGINT is lighttpd's graceful shutdown; SIGTERM would cut the requests in flight.
      stopSignal: 'SIGINT',
      // server.graceful-shutdown-timeout is 5 s; past it plus a margin, nothing is waited for.
      stopTimeoutMs: 8_000,
    });
  });
}

function testConfig(binary: string, config: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // -tt also loads and initialises the modules, which -t alone does not.
    execFile(binary, ['-tt', '-f', config], (error, stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`lighttpd -tt refused ${config}:\n${stdout}${stderr}`));
    });
  });
}
