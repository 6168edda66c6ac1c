import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  createWriteStream,
  mkdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../src/control/control-client.js';
import { nginxConfig } from '../test/support/nginx.js';
import { type RunningPhpFpm, startPhpFpm } from '../test/support/php-fpm.js';
import {
  launchServer,
  type RunningServer,
  startOnFreePort,
} from '../test/support/server-process.js';
import { waitFor } from '../test/support/wait-for.js';
import { killGroup, killNginx, ProcessScope } from './process-scope.js';

const RELEASES = new URL('../fixtures/php/releases/', import.meta.url).pathname;

/** The two releases a stack starts with, copied as `releases/r1` (served first) and `releases/r2`. */
export interface ReleaseSources {
  readonly r1: string;
  readonly r2: string;
}

const PHP_RELEASES: ReleaseSources = { r1: join(RELEASES, 'r1'), r2: join(RELEASES, 'r2') };

/**
 * fixtures' sleep.php, but a signal does not cut the wait short: php-fpm's reload sends
 * SIGQUIT to every worker, and usleep() returns early at it, so a sleeping request "finishes"
 * at once. A request waiting on a database or an HTTP call keeps its worker until it is done;
 * this page stands in for that. Written into each release copy as `wait.php`.
 */
export const WAIT_PAGE = `<?php
// A slow request that a signal does not shorten: usleep() again for what is left.
$release = require __DIR__ . '/release.php';
$ms = max(0, min(600000, (int) ($_GET['ms'] ?? 1000)));
$end = hrtime(true) + $ms * 1000000;
while (($left = $end - hrtime(true)) > 0) {
    usleep(intdiv($left, 1000) + 1);
}
header('Content-Type: application/json');
echo json_encode(['release' => $release['name'], 'slept' => $ms, 'pid' => getmypid()]), "\n";
`;

export interface SwitchyardDaemon {
  readonly socket: string;
  readonly config: string;
  /** The control socket, for polling status without starting the CLI each time. */
  readonly control: string;
  readonly pid: number;
  /** False once the daemon has exited (a crash, in a benchmark that does not stop it). */
  alive(): boolean;
  /** The last 64 KiB it wrote (its JSON log and anything on stderr). */
  output(): string;
}

/** 2 php-fpm replicas of `capacity` workers, warmed up with /index.php at every start unless told. */
interface PhpFpmReplicas {
  readonly phpFpm: string;
  readonly capacity: number;
  /** A file of extra pool directives for every replica (`[replicas.php_fpm] pool`). */
  readonly pool?: string;
  /** More `[replicas]` keys (`surge = false`). */
  readonly replicasExtra?: readonly string[];
  /** `[deploy] warmup`: paths relative to the release directory; `/index.php` unless told. */
  readonly warmup?: readonly string[];
}

/** Replicas of another kind (command replicas of the demo app): their own `[replicas]` table. */
interface TableReplicas {
  readonly replicas: readonly string[];
  /** `[deploy] warmup`: paths these replicas answer 2xx (none for none). */
  readonly warmup: readonly string[];
}

export type SwitchyardOptions = {
  readonly cli: string;
  readonly releaseHeader: string;
  /** The `[sessions]` table's lines (`per_session = 0`; none for its defaults); no table unless told. */
  readonly sessions?: readonly string[];
  /** Where to append everything the daemon writes, beside the 64 KiB kept in memory. */
  readonly logFile?: string;
  /** `[release] root` = the stack's `releases` directory (`[static]` requires it). */
  readonly releaseRoot?: boolean;
  /** Whole tables appended to the config (`[static]` and its keys). */
  readonly extra?: readonly string[];
} & (PhpFpmReplicas | TableReplicas);

/**
 * One benchmark setup's temp directory (the deploy and sessions benchmarks) (`releases/r1`, `releases/r2` with `wait.php` added,
 * `current -> r1`) and
 * every process started in it, stopped in reverse order by `close` even when a start failed
 * half way. Should the benchmark exit before that (an uncaught error, `process.exit`), what
 * still runs is SIGKILLed on the way out.
 */
export class DeployStack {
  readonly dir: string;
  readonly symlink: string;
  readonly releases: { readonly r1: string; readonly r2: string };
  readonly #scope: ProcessScope;

  /** `sources`: the two releases to copy (fixtures/php/releases' r1 and r2 unless told). */
  constructor(label: string, sources: ReleaseSources = PHP_RELEASES) {
    this.#scope = new ProcessScope(label);
    this.dir = this.#scope.dir;
    // switchyard runs php-fpm's workers as www-data when it runs as root: they read the releases.
    chmodSync(this.dir, 0o755);
    const r1 = join(this.dir, 'releases', 'r1');
    const r2 = join(this.dir, 'releases', 'r2');
    cpSync(sources.r1, r1, { recursive: true });
    cpSync(sources.r2, r2, { recursive: true });
    for (const [name, release] of [
      ['r1', r1],
      ['r2', r2],
    ] as const) {
      writeFileSync(join(release, 'wait.php'), WAIT_PAGE);
      // What the demo FastCGI app reads at start: the same releases serve command replicas.
      writeFileSync(join(release, 'release.json'), `${JSON.stringify({ name })}\n`);
    }
    this.releases = { r1, r2 };
    this.symlink = join(this.dir, 'current');
    symlinkSync(r1, this.symlink);
  }

  /** Copies `source` to `releases/<name>` (a fresh release for a deploy); returns its path. */
  addRelease(name: string, source: string): string {
    const release = join(this.dir, 'releases', name);
    cpSync(source, release, { recursive: true });
    return release;
  }

  /** One php-fpm master, `pm = static` with `children` workers, reloaded gracefully. */
  async startPhpFpm(binary: string, children: number): Promise<RunningPhpFpm> {
    const dir = join(this.dir, 'fpm');
    mkdirSync(dir);
    const master = await startPhpFpm({
      binary,
      dir,
      name: 'direct',
      children,
      // A global directive: the section header switches back to [global] for it. 10 s lets
      // a reload (SIGUSR2) wait for requests in flight; php-fpm's default of 0 kills them.
      poolDirectives: ['[global]', 'process_control_timeout = 10s'],
    });
    // The master and its children share a process group, also after a reload's re-exec.
    this.#scope.trackGroup(master.pid, master.killAll);
    return master;
  }

  /**
   * `node <cli> daemon` running 2 php-fpm replicas of `capacity` on the symlink (or the
   * `replicas` table given), with the release header and a warm-up page; resolves once every
   * replica is ready.
   */
  async startSwitchyard(options: SwitchyardOptions): Promise<SwitchyardDaemon> {
    const socket = join(this.dir, 'switchyard.sock');
    const control = join(this.dir, 'control.sock');
    const config = join(this.dir, 'switchyard.toml');
    writeFileSync(
      config,
      [
        '[listen]',
        `fastcgi = "unix:${socket}"`,
        'mode = "0666"',
        '[release]',
        `symlink = "${this.symlink}"`,
        ...(options.releaseRoot === true ? [`root = "${join(this.dir, 'releases')}"`] : []),
        ...('replicas' in options
          ? options.replicas
          : [
              '[replicas]',
              'kind = "php-fpm"',
              'count = 2',
              `capacity = ${options.capacity}`,
              ...(options.replicasExtra ?? []),
              '[replicas.php_fpm]',
              `binary = "${options.phpFpm}"`,
              ...(options.pool === undefined ? [] : [`pool = "${options.pool}"`]),
            ]),
        '[health]',
        'start_timeout = "20s"',
        '[drain]',
        // php-fpm's process_control_timeout in the other setup.
        'timeout = "10s"',
        '[deploy]',
        `warmup = ${JSON.stringify('replicas' in options ? options.warmup : (options.warmup ?? ['/index.php']))}`,
        'timeout = "60s"',
        '[response]',
        `release_header = "${options.releaseHeader}"`,
        '[control]',
        `socket = "${control}"`,
        '[paths]',
        `runtime = "${join(this.dir, 'run')}"`,
        `state = "${join(this.dir, 'state')}"`,
        '[log]',
        'level = "info"',
        ...(options.sessions === undefined ? [] : ['[sessions]', ...options.sessions]),
        ...(options.extra ?? []),
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [options.cli, 'daemon', '-c', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so nothing it starts can outlive the benchmark.
      detached: true,
    });
    const pid = child.pid as number;
    let output = '';
    const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile);
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-64 * 1024);
      log?.write(chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('close', () => log?.end());
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Replica masters lead process groups of their own: remembered to be killed if need be.
    const replicaPids = new Set<number>();
    this.#scope.trackGroup(pid, async () => {
      await stopDaemon(child, exited);
      for (const leftover of replicaPids) killGroup(leftover);
    });
    const client = new ControlClient(control);
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`switchyard exited early: ${output}`);
        }
        const status = await client.status();
        for (const replica of status.replicas) {
          for (const replicaPid of replica.pids) {
            replicaPids.add(replicaPid);
            this.#scope.killGroupOnExit(replicaPid);
          }
        }
        return status.replicas.length > 0 && status.replicas.every((r) => r.state === 'ready');
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `switchyard's replicas to be ready (${output})` },
    );
    return {
      socket,
      config,
      control,
      pid,
      alive: () => child.exitCode === null && child.signalCode === null,
      output: () => output,
    };
  }

  /**
   * nginx in front of `socket` with the tests' config, `fastcgi_keep_conn` as told, and
   * with `realpathRoot` SCRIPT_FILENAME and DOCUMENT_ROOT taken from `$realpath_root`
   * instead of `$document_root` (the usual advice for symlink deploys straight to php-fpm).
   * Its root is the symlink unless `documentRoot` names another (`current/public`); `extraHttp`
   * and `extraServer` are directives for its http and server blocks.
   */
  async startNginx(
    binary: string,
    socket: string,
    options: {
      readonly keepConn: boolean;
      readonly realpathRoot: boolean;
      readonly documentRoot?: string;
      readonly extraHttp?: readonly string[];
      readonly extraServer?: readonly string[];
    },
  ): Promise<RunningServer> {
    const dir = join(this.dir, 'nginx');
    mkdirSync(dir);
    const configPath = join(dir, 'nginx.conf');
    const user = process.getuid?.() === 0 ? { user: 'root' } : {};
    const nginx = await startOnFreePort('nginx', (port, readyToken) => {
      const config = nginxConfig({
        dir,
        port,
        readyToken,
        ...user,
        fastcgiPass: `unix:${socket}`,
        documentRoot: options.documentRoot ?? this.symlink,
        keepConn: options.keepConn,
        ...(options.extraHttp === undefined ? {} : { extraHttp: options.extraHttp }),
        ...(options.extraServer === undefined ? {} : { extraServer: options.extraServer }),
      });
      writeFileSync(
        configPath,
        options.realpathRoot ? config.replaceAll('$document_root', '$realpath_root') : config,
      );
      return launchServer({
        name: 'nginx',
        binary,
        args: ['-e', 'stderr', '-p', dir, '-c', configPath],
        port,
        readyToken,
        stopSignal: 'SIGQUIT',
        stopTimeoutMs: 5_000,
        forceKill: killNginx,
      });
    });
    this.#scope.trackNginx(nginx.pid, nginx.stop);
    return nginx;
  }

  /** Runs `cleanup` first when closing (before the processes it needs are stopped). */
  defer(cleanup: () => Promise<unknown>): void {
    this.#scope.defer(cleanup);
  }

  close(): Promise<void> {
    return this.#scope.close();
  }
}

/** SIGTERM (finishes requests, stops the replicas gracefully), SIGKILL to the group after 15 s. */
async function stopDaemon(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => killGroup(child.pid as number), 15_000);
  await exited;
  clearTimeout(timer);
}
