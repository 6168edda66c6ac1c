import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';
import { freePort } from './switchyard-process.js';
import { waitFor } from './wait-for.js';

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
}

export interface RunningLighttpd {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** What lighttpd wrote to stdout/stderr, then the error log. */
  readonly output: () => string;
  /** SIGINT (graceful shutdown), then SIGKILL if it has not exited in time. */
  readonly stop: () => Promise<void>;
}

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
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const readyToken = randomBytes(8).toString('hex');
    writeFileSync(readyFile, readyToken);
    writeFileSync(config, lighttpdConfig({ ...options, port, readyFile }));
    await testConfig(options.binary, config);
    const started = await launch(options, config, port, readyToken);
    if (typeof started !== 'string') return started;
    if (attempt === 3) {
      throw new Error(`lighttpd found no free port in ${attempt} attempts: ${started}`);
    }
  }
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

async function launch(
  options: LighttpdOptions,
  config: string,
  port: number,
  readyToken: string,
): Promise<RunningLighttpd | string> {
  const errorLog = join(options.dir, 'error.log');
  const child = spawn(options.binary, ['-D', '-f', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, like the other servers here, so nothing it starts outlives it.
    detached: true,
  });
  let piped = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    piped += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    piped += chunk.toString();
  });
  const output = () => {
    let log = '';
    try {
      log = readFileSync(errorLog, 'utf8');
    } catch {}
    return `${piped}${log}`;
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  let settled = false;
  try {
    const outcome = await Promise.race([
      spawnFailed,
      exited.then(() => 'exited' as const),
      waitFor(async () => settled || (await httpGetBody(port, '/.harness-ready')) === readyToken, {
        timeoutMs: 10_000,
        what: `lighttpd to answer on 127.0.0.1:${port}`,
      }).then(() => 'ready' as const),
    ]);
    if (outcome === 'exited') {
      // Another process took the port after we picked it: the caller retries with its output.
      if (output().includes('Address already in use')) return output();
      throw new Error(`lighttpd exited ${child.exitCode ?? child.signalCode}: ${output()}`);
    }
  } catch (error) {
    await killGroup(child, exited);
    throw new Error(`${(error as Error).message}\n${output()}`);
  } finally {
    settled = true;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT is lighttpd's graceful shutdown; SIGTERM would cut the requests in flight.
      child.kill('SIGINT');
      // server.graceful-shutdown-timeout is 5 s; past it plus a margin, nothing is waited for.
      const timer = setTimeout(() => void killGroup(child, exited), 8_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
  if (child.exitCode === null && child.signalCode === null) await exited;
}

function httpGetBody(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 1_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('readiness probe timed out')));
    req.on('error', reject);
    req.end();
  });
}
