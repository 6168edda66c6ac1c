import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';
import { launchServer, type RunningServer, startOnFreePort } from './server-process.js';

/** The shipped site block; the tests run it with only its socket, root and address substituted. */
export const caddySnippetPath = join(repoRoot, 'deploy/caddy/Caddyfile');
const SNIPPET_SOCKET = '/run/switchyard/app.sock';
const SNIPPET_DOCUMENT_ROOT = '/srv/app/current/public';
const SNIPPET_SITE = 'app.example.com {';

export interface CaddyOptions {
  readonly binary: string;
  /** Directory for the Caddyfile, and Caddy's HOME, data and config directories. */
  readonly dir: string;
  /** Unix socket path of switchyard's FastCGI listener. */
  readonly fastcgiAddress: string;
  readonly documentRoot: string;
}

/**
 * `output` is what Caddy logged (stderr); `stop` is SIGTERM (graceful, bounded by the
 * config's grace period), then SIGKILL to the process group if it has not exited in time.
 */
export type RunningCaddy = RunningServer;

/** deploy/caddy/Caddyfile with the socket, document root and site address of a test. */
export function caddySnippet(fastcgiAddress: string, documentRoot: string, site: string): string {
  const snippet = readFileSync(caddySnippetPath, 'utf8');
  // A snippet edited away from these values would silently stop being what the tests run.
  for (const value of [SNIPPET_SOCKET, SNIPPET_DOCUMENT_ROOT, SNIPPET_SITE]) {
    if (!snippet.includes(value)) throw new Error(`${caddySnippetPath} no longer has ${value}`);
  }
  return snippet
    .replaceAll(SNIPPET_SOCKET, fastcgiAddress)
    .replaceAll(SNIPPET_DOCUMENT_ROOT, documentRoot)
    .replace(SNIPPET_SITE, `${site} {`);
}

/**
 * The Caddyfile: global options that keep Caddy inside `dir` (no admin endpoint, no HTTPS and
 * so no certificates, storage in `dir`; its autosaved config goes to the XDG config directory,
 * in `dir` too), then the shipped site block as `http://127.0.0.1:<port>`, bound to loopback
 * only and answering the readiness probe.
 */
export function caddyConfig(
  options: Omit<CaddyOptions, 'binary'> & { port: number; readyToken: string },
): string {
  const site = caddySnippet(
    options.fastcgiAddress,
    options.documentRoot,
    `http://127.0.0.1:${options.port}`,
  );
  const opening = `http://127.0.0.1:${options.port} {\n`;
  return [
    '{',
    '\tadmin off',
    '\tauto_https off',
    // Bounds a graceful stop; the caller's SIGKILL comes after it.
    '\tgrace_period 5s',
    `\tstorage file_system ${join(options.dir, 'storage')}`,
    '}',
    '',
    site.replace(
      opening,
      `${opening}\tbind 127.0.0.1\n\trespond /.harness-ready "${options.readyToken}" 200\n\n`,
    ),
  ].join('\n');
}

/**
 * Starts a real Caddy (`caddy run`, in the foreground) with its own Caddyfile in `dir`, on a
 * free port of 127.0.0.1. Resolves once that Caddy answers HTTP; a port taken between picking
 * and binding is retried on another.
 */
export async function startCaddy(options: CaddyOptions): Promise<RunningCaddy> {
  const config = join(options.dir, 'Caddyfile');
  // Caddy keeps data and config under HOME or the XDG directories: all of them in `dir`.
  const env = {
    HOME: options.dir,
    XDG_DATA_HOME: join(options.dir, 'data'),
    XDG_CONFIG_HOME: join(options.dir, 'config'),
  };
  mkdirSync(env.XDG_DATA_HOME, { recursive: true });
  mkdirSync(env.XDG_CONFIG_HOME, { recursive: true });
  return startOnFreePort('caddy', async (port, readyToken) => {
    writeFileSync(config, caddyConfig({ ...options, port, readyToken }));
    await validate(options.binary, config, env);
    return launchServer({
      name: 'caddy',
      binary: options.binary,
      args: ['run', '--config', config, '--adapter', 'caddyfile'],
      env,
      port,
      readyToken,
      stopSignal: 'SIGTERM',
      // grace_period is 5 s; past it plus a margin, nothing is waited for.
      stopTimeoutMs: 8_000,
    });
  });
}

function validate(binary: string, config: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['validate', '--config', config, '--adapter', 'caddyfile'],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`caddy validate refused ${config}:\n${stdout}${stderr}`));
      },
    );
  });
}
