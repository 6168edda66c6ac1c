import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlClient } from '../../src/control/control-client.js';
import { PHP_R1, RELEASE_HEADER } from './php-fpm-daemon.js';
import { survivors } from './process-tree.js';
import { freePort, switchyardCommand } from './switchyard-process.js';

/** A php-fpm site in a temp dir, configured for a daemon the test starts itself. */
export interface SystemdSite {
  readonly dir: string;
  readonly configPath: string;
  readonly fastcgiSocket: string;
  readonly controlSocket: string;
  readonly symlink: string;
  /** The first release, resolved (d0, a copy of the PHP test app's r1). */
  readonly release: string;
  readonly httpPort: number;
  readonly httpUrl: string;
  /** Copies `source` to `<dir>/releases/<name>`; returns its resolved path. */
  addRelease(name: string, source: string): string;
  /** Rewrites the config file with `extra` TOML lines appended (a later start reads it). */
  writeConfig(extra?: readonly string[]): void;
}

export interface SystemdSiteOptions {
  readonly dir: string;
  readonly phpFpm: string;
  readonly count?: number;
  readonly warmup?: readonly string[];
  /** More TOML lines (whole tables). */
  readonly extra?: readonly string[];
}

/** Lays out release d0 behind `current` and writes switchyard.toml for it (php-fpm replicas). */
export async function prepareSystemdSite(options: SystemdSiteOptions): Promise<SystemdSite> {
  const { dir } = options;
  // php-fpm workers run as www-data when the tests run as root: they must read the release.
  chmodSync(dir, 0o755);
  const releaseDir = join(dir, 'releases', 'd0');
  cpSync(PHP_R1, releaseDir, { recursive: true });
  const symlink = join(dir, 'current');
  symlinkSync(releaseDir, symlink);
  const httpPort = await freePort();
  const fastcgiSocket = join(dir, 'switchyard.sock');
  const controlSocket = join(dir, 'control.sock');
  const configPath = join(dir, 'switchyard.toml');
  const writeConfig = (extra: readonly string[] = []) =>
    writeFileSync(
      configPath,
      [
        '[listen]',
        `fastcgi = "unix:${fastcgiSocket}"`,
        `http = "127.0.0.1:${httpPort}"`,
        '[release]',
        `symlink = "${symlink}"`,
        '[replicas]',
        'kind = "php-fpm"',
        `count = ${options.count ?? 2}`,
        'capacity = 4',
        '[replicas.php_fpm]',
        `binary = "${options.phpFpm}"`,
        '[health]',
        'interval = "1s"',
        'timeout = "2s"',
        'start_timeout = "20s"',
        '[response]',
        `release_header = "${RELEASE_HEADER}"`,
        '[deploy]',
        `warmup = ${JSON.stringify(options.warmup ?? [])}`,
        'warmup_timeout = "45s"',
        'timeout = "90s"',
        '[drain]',
        'timeout = "10s"',
        '[control]',
        `socket = "${controlSocket}"`,
        '[paths]',
        `runtime = "${join(dir, 'run')}"`,
        `state = "${join(dir, 'state')}"`,
        '[log]',
        'level = "info"',
        ...(options.extra ?? []),
        ...extra,
        '',
      ].join('\n'),
    );
  writeConfig();
  return {
    dir,
    configPath,
    fastcgiSocket,
    controlSocket,
    symlink,
    release: realpathSync(releaseDir),
    httpPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    addRelease: (name, source) => {
      const path = join(dir, 'releases', name);
      cpSync(source, path, { recursive: true });
      return realpathSync(path);
    },
    writeConfig,
  };
}

/** A process the test started (a daemon, or a holder of its socket), with its output. */
export interface WatchedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Spawns `[...prefix, switchyard daemon -c <config>]` with `env` added to the environment,
 * without waiting for anything: the test decides what it waits for.
 */
export function spawnDaemon(
  configPath: string,
  options: { readonly env?: NodeJS.ProcessEnv; readonly prefix?: readonly string[] } = {},
): WatchedProcess {
  const argv = [...(options.prefix ?? []), ...switchyardCommand, 'daemon', '-c', configPath];
  const [command, ...rest] = argv as unknown as [string, ...string[]];
  return watch(
    spawn(command, rest, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Collects a child's output and exit. */
export function watch(child: ChildProcess): WatchedProcess {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid as number,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    stop: async (graceMs = 20_000) => {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (running()) child.kill('SIGKILL');
        }, graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

/** The replicas' pids the daemon on `controlSocket` reports; [] when it does not answer. */
export async function replicaPids(controlSocket: string): Promise<number[]> {
  try {
    const status = await new ControlClient(controlSocket, { timeoutMs: 5_000 }).status();
    return status.replicas.flatMap((replica) => replica.pids);
  } catch {
    return [];
  }
}

/** A failed test must not leave workers behind for the next one. */
export async function killLeftovers(pids: readonly number[]): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const left = survivors(pids);
    if (left.length === 0) return;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await delay(50);
  }
}
