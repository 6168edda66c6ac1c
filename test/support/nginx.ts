import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchServer, type RunningServer, startOnFreePort } from './server-process.js';

export interface NginxOptions {
  readonly binary: string;
  /** Directory for the config, pid file and every temp path. */
  readonly dir: string;
  /** Where FastCGI requests go: `unix:/path/app.sock` or `127.0.0.1:9000`. */
  readonly fastcgiPass: string;
  readonly documentRoot: string;
  /** `fastcgi_keep_conn`; on unless told. */
  readonly keepConn?: boolean;
  /**
   * Idle upstream connections nginx's worker keeps (`keepalive`); 32 unless told. Each one
   * held to php-fpm ties up a child: see the note on `nginxConfig`.
   */
  readonly upstreamKeepalive?: number;
  /** Extra directives for the `http` block, one per line. */
  readonly extraHttp?: readonly string[];
  /** Extra directives for the `server` block (a shipped snippet's locations), one per line. */
  readonly extraServer?: readonly string[];
  /**
   * `$realpath_root` instead of `$document_root` in SCRIPT_FILENAME and DOCUMENT_ROOT: nginx
   * resolves the release symlink itself, as many symlink-deploy guides recommend.
   */
  readonly realpathRoot?: boolean;
}

export interface NginxConfigOptions extends Omit<NginxOptions, 'binary'> {
  readonly port: number;
  /** `user` directive; only meaningful when the master runs as root. */
  readonly user?: string;
  /** Body of `GET /.harness-ready`, so a readiness probe knows it reached this nginx. */
  readonly readyToken?: string;
}

/** `stop` is SIGQUIT (graceful), then SIGKILL to the master and its workers if it has not exited in time. */
export type RunningNginx = RunningServer;

/** The FastCGI params nginx sends, written out so the config does not depend on /etc/nginx. */
const FASTCGI_PARAMS: readonly (readonly [string, string])[] = [
  ['SCRIPT_FILENAME', '$document_root$fastcgi_script_name'],
  ['QUERY_STRING', '$query_string'],
  ['REQUEST_METHOD', '$request_method'],
  ['CONTENT_TYPE', '$content_type'],
  ['CONTENT_LENGTH', '$content_length'],
  ['SCRIPT_NAME', '$fastcgi_script_name'],
  ['REQUEST_URI', '$request_uri'],
  ['DOCUMENT_URI', '$document_uri'],
  ['DOCUMENT_ROOT', '$document_root'],
  ['SERVER_PROTOCOL', '$server_protocol'],
  ['REQUEST_SCHEME', '$scheme'],
  ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'nginx/$nginx_version'],
  ['REMOTE_ADDR', '$remote_addr'],
  ['REMOTE_PORT', '$remote_port'],
  ['SERVER_ADDR', '$server_addr'],
  ['SERVER_PORT', '$server_port'],
  ['SERVER_NAME', '$server_name'],
  // php-cgi built with force-cgi-redirect refuses requests without it.
  ['REDIRECT_STATUS', '200'],
];

/**
 * nginx.conf text for one foreground nginx with a single worker in front of one FastCGI
 * upstream. Pure, so a benchmark can write the same config.
 *
 * Note on php-fpm: a child serving a kept-alive connection (`fastcgi_keep_conn on`) waits on
 * that connection for its next request and accepts no other. If nginx may hold as many idle
 * connections as the pool has children (`upstreamKeepalive` >= `pm.max_children`), a request
 * on a fresh connection can wait in the listen backlog until nginx happens to close one.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const dir = options.dir;
  const keepalive = options.upstreamKeepalive ?? 32;
  const params = FASTCGI_PARAMS.map(([name, value]) => {
    const root =
      options.realpathRoot === true ? value.replace('$document_root', '$realpath_root') : value;
    return `      fastcgi_param ${name} ${root};`;
  });
  const fastcgi = [
    '      fastcgi_pass fastcgi_upstream;',
    `      fastcgi_keep_conn ${options.keepConn === false ? 'off' : 'on'};`,
    ...params,
  ];
  return [
    ...(options.user === undefined ? [] : [`user ${options.user};`]),
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    // stderr reaches the test's pipe (checked): no log file to find after a failure.
    'error_log stderr notice;',
    'events {',
    '  worker_connections 1024;',
    '}',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'client_body')};`,
    `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    '  client_max_body_size 0;',
    // Load generators open many keep-alive connections; do not cut them after 1000 requests.
    '  keepalive_requests 100000;',
    '  upstream fastcgi_upstream {',
    `    server ${options.fastcgiPass};`,
    `    keepalive ${keepalive};`,
    '  }',
    ...(options.extraHttp ?? []).map((line) => `  ${line}`),
    '  server {',
    `    listen 127.0.0.1:${options.port};`,
    '    server_name localhost;',
    `    root ${options.documentRoot};`,
    '    location ~ \\.php$ {',
    ...fastcgi,
    '    }',
    '    location = /fpm-ping {',
    ...fastcgi,
    '    }',
    ...(options.extraServer ?? []).map((line) => `    ${line}`),
    ...(options.readyToken === undefined
      ? []
      : ['    location = /.harness-ready {', `      return 200 '${options.readyToken}';`, '    }']),
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Starts a real nginx master in the foreground with its own config in `dir`, listening on a
 * free port of 127.0.0.1. Resolves once that nginx (not whatever else holds the port) answers
 * HTTP; a port taken between picking and binding is retried on another.
 */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const config = join(options.dir, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'root' : undefined;
  // nginx itself retries bind() for 2.5 s before exiting, so few attempts are needed.
  return startOnFreePort('nginx', async (port, readyToken) => {
    writeFileSync(
      config,
      nginxConfig({ ...options, port, readyToken, ...(user === undefined ? {} : { user }) }),
    );
    await testConfig(options.binary, config, options.dir);
    return launchServer({
      name: 'nginx',
      binary: options.binary,
      // -e: the error log before the config is read; the build's default may be a root-only file.
      args: ['-e', 'stderr', '-p', options.dir, '-c', config],
      port,
      readyToken,
      stopSignal: 'SIGQUIT',
      stopTimeoutMs: 5_000,
      // Not a process group: the master and its workers are found through /proc.
      forceKill: killWithWorkers,
    });
  });
}

function testConfig(binary: string, config: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['-t', '-q', '-e', 'stderr', '-p', dir, '-c', config],
      (error, stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`nginx -t refused ${config}:\n${stdout}${stderr}`));
      },
    );
  });
}

/**
 * SIGKILL for the master and its workers: a worker whose master is killed keeps running (and
 * keeps the listening socket), so the workers are found while they are still its children.
 */
function killWithWorkers(masterPid: number): void {
  for (const pid of [...childPids(masterPid), masterPid]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}
