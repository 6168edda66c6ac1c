import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FcgiResponse } from './fcgi-exchange.js';
import { fcgiExchange } from './fcgi-exchange.js';
import type { ManagedDaemon } from './managed-daemon.js';
import { startManagedDaemon } from './managed-daemon.js';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait-for.js';

/** fixtures/static-site: a page naming its release, its stylesheet and script, per release. */
export const STATIC_R1 = join(repoRoot, 'fixtures/static-site/releases/r1');
export const STATIC_R2 = join(repoRoot, 'fixtures/static-site/releases/r2');
/** What the fixtures' `leak.css` symlink leads to, outside every release. */
export const SECRET = readFileSync(join(repoRoot, 'fixtures/static-site/secret.txt'), 'utf8');

/** The header that names the answering release on PHP responses (and static ones, but nginx's). */
export const RELEASE_HEADER = 'X-Served-Release';

/** Where the shipped snippets put things, replaced by each test's own paths. */
const SNIPPET_SOCKET = '/run/switchyard/app.sock';
const SNIPPET_RELEASES = '/srv/app/releases';
const SNIPPET_HOST = '"app.example.com"';

export type StaticServer = 'nginx' | 'apache' | 'lighttpd';

/**
 * deploy/<server>/switchyard-static.conf with a test's socket, releases directory and (lighttpd)
 * host. The shipped text otherwise, so the tests run what users copy.
 */
export function staticSnippet(
  server: StaticServer,
  paths: { readonly socket: string; readonly releases: string; readonly host?: string },
): string {
  const file = join(repoRoot, 'deploy', server, 'switchyard-static.conf');
  const snippet = readFileSync(file, 'utf8');
  const expected = server === 'nginx' ? [SNIPPET_RELEASES] : [SNIPPET_RELEASES, SNIPPET_SOCKET];
  if (server === 'lighttpd') expected.push(SNIPPET_HOST);
  // A snippet edited away from these would silently stop being what the tests run.
  for (const value of expected) {
    if (!snippet.includes(value)) throw new Error(`${file} no longer has ${value}`);
  }
  return snippet
    .replaceAll(SNIPPET_SOCKET, paths.socket)
    .replaceAll(SNIPPET_RELEASES, paths.releases)
    .replaceAll(SNIPPET_HOST, JSON.stringify(paths.host ?? ''));
}

/** The nginx snippet's lines for test/support/nginx.ts's server block (its upstream's name). */
export function nginxStaticLines(releases: string): string[] {
  const snippet = staticSnippet('nginx', { socket: '', releases });
  if (!snippet.includes('fastcgi_pass switchyard;')) {
    throw new Error('deploy/nginx/switchyard-static.conf no longer passes to upstream switchyard');
  }
  return snippet
    .replaceAll('fastcgi_pass switchyard;', 'fastcgi_pass fastcgi_upstream;')
    .split('\n');
}

/** Debian's mod_xsendfile (libapache2-mod-xsendfile). */
export const XSENDFILE_MODULE = '/usr/lib/apache2/modules/mod_xsendfile.so';

/**
 * Whether Apache's mod_xsendfile is installed: tests that need it skip loudly without it, and
 * fail under CI (which installs it in .ci/run), as requireSystemTool does for programs.
 */
export function requireXSendfile(): boolean {
  if (existsSync(XSENDFILE_MODULE)) return true;
  const message = `${XSENDFILE_MODULE} not found: install it with \`apt-get install libapache2-mod-xsendfile\``;
  if (process.env.CI) throw new Error(`${message} (CI is set, so this is a failure, not a skip)`);
  process.stderr.write(`\n*** SKIPPING tests that need ${message} ***\n\n`);
  return false;
}

export type StaticMode = 'symlink' | 'serving' | 'cookie';

/**
 * switchyard running the static-site fixture on two php-fpm replicas (first release `d0`, a
 * copy of r1, under `<dir>/releases` = release.root), with `[static]` in `mode` for `header`
 * (none for the symlink mode: the web server serves static files from `current` itself).
 */
export function startStaticSiteDaemon(options: {
  readonly label: string;
  readonly phpFpm: string;
  readonly mode: StaticMode;
  readonly header: 'x-accel-redirect' | 'x-sendfile';
}): Promise<ManagedDaemon> {
  return startManagedDaemon({
    label: options.label,
    firstRelease: 'd0',
    releaseSource: STATIC_R1,
    releaseExtra: ['root = "<dir>/releases"'],
    // Apache's children run as `daemon` when the tests run as root: they must reach the socket.
    listenExtra: ['mode = "0666"'],
    replicas: [
      '[replicas]',
      'kind = "php-fpm"',
      'count = 2',
      'capacity = 4',
      '[replicas.php_fpm]',
      `binary = "${options.phpFpm}"`,
    ],
    extra: [
      '[response]',
      `release_header = "${RELEASE_HEADER}"`,
      '[deploy]',
      'timeout = "60s"',
      ...(options.mode === 'symlink'
        ? []
        : [
            '[static]',
            `header = "${options.header}"`,
            'document_root = "public"',
            `release = "${options.mode}"`,
          ]),
    ],
  });
}

/** Deploys a copy of r2 (odd k) or r1 (even k) as `d<k>`; resolves with its path. */
export async function deployAlternating(daemon: ManagedDaemon, k: number): Promise<string> {
  const dir = daemon.addRelease(`d${k}`, k % 2 === 1 ? STATIC_R2 : STATIC_R1);
  const result = await daemon.cli(['deploy', dir]);
  if (result.code !== 0) throw new Error(`deploy ${k} failed: ${result.stderr}${result.stdout}`);
  return dir;
}

/** Waits until `count()` has grown by `more`: the clients are making progress. */
export async function progressOf(count: () => number, more: number, what: string): Promise<void> {
  const target = count() + more;
  await waitFor(() => count() >= target, { timeoutMs: 20_000, what });
}

/**
 * Paths that try to leave the release, as a client sends them to the web server. Each web
 * server refuses some itself (400) or normalises them into a path inside the release; what
 * reaches switchyard must get 404, and none may answer with the secret.
 */
export const TRAVERSAL_URLS: readonly string[] = [
  '/leak.css',
  '/escape/r1/public/style.css',
  '/escape/../secret.css',
  '/../../../secret.css',
  '/%2e%2e/%2e%2e/%2e%2e/secret.css',
  '/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.css',
  '/style.css%00.png',
];

/**
 * Static requests as a client talking FastCGI to switchyard's socket could send them, with the
 * params no web server would: each must be answered 404 by switchyard itself.
 */
export const TRAVERSAL_PARAMS: ReadonlyArray<Readonly<Record<string, string>>> = [
  { SCRIPT_NAME: '/../../secret.css' },
  { SCRIPT_NAME: '/assets', PATH_INFO: '/../../../secret.css' },
  { SCRIPT_NAME: '/%2e%2e/%2e%2e/secret.css' },
  { SCRIPT_NAME: '/style.css%2f..%2f..%2fsecret.css' },
  { SCRIPT_NAME: '/style.css\0.png' },
  { SCRIPT_NAME: '/leak.css' },
  { SCRIPT_NAME: '/escape/r1/public/style.css' },
  { SCRIPT_NAME: '/index.php' },
  { SCRIPT_NAME: '/.env' },
  { SCRIPT_NAME: '/.git', PATH_INFO: '/config' },
];

/** One static request straight to switchyard's FastCGI socket. */
export function rawStaticRequest(
  socket: string,
  params: Readonly<Record<string, string>>,
): Promise<FcgiResponse> {
  return fcgiExchange(socket, {
    params: [['SWITCHYARD_STATIC', '1'], ...Object.entries(params)],
  });
}
