import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fcgiExchange, phpParams } from './fcgi-exchange.js';
import { waitFor } from './wait-for.js';

export interface PhpFpmOptions {
  readonly binary: string;
  /** Directory for the config, pid file, socket and sessions. */
  readonly dir: string;
  readonly name?: string;
  readonly children?: number;
  readonly maxRequests?: number;
  /** Extra pool directives, one per line. */
  readonly poolDirectives?: readonly string[];
}

export interface RunningPhpFpm {
  readonly socket: string;
  readonly pid: number;
  readonly output: () => string;
  /** SIGQUIT (graceful), then SIGKILL if the master has not exited in time. */
  readonly stop: () => Promise<void>;
  /** SIGKILL to the master and all its children at once (they share a process group). */
  readonly killAll: () => Promise<void>;
}

/**
 * Starts a real php-fpm master in the foreground with its own config: a unix socket in `dir`,
 * ping and status paths, errors on stderr. Resolves once the ping path answers `pong`.
 */
export async function startPhpFpm(options: PhpFpmOptions): Promise<RunningPhpFpm> {
  const name = options.name ?? 'fpm';
  const socket = join(options.dir, `${name}.sock`);
  const config = join(options.dir, `${name}.conf`);
  writeFileSync(
    config,
    [
      '[global]',
      `pid = ${join(options.dir, `${name}.pid`)}`,
      'daemonize = no',
      'log_level = notice',
      '[app]',
      `listen = ${socket}`,
      'listen.mode = 0666',
      'pm = static',
      `pm.max_children = ${options.children ?? 2}`,
      `pm.max_requests = ${options.maxRequests ?? 0}`,
      'ping.path = /fpm-ping',
      'pm.status_path = /fpm-status',
      'catch_workers_output = yes',
      'decorate_workers_output = no',
      'clear_env = no',
      `php_admin_value[session.save_path] = ${options.dir}`,
      'php_admin_value[post_max_size] = 64M',
      ...(options.poolDirectives ?? []),
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const child = spawn(options.binary, ['-F', '-O', '-y', config, ...(asRoot ? ['-R'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can kill the master and its children together.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  // -O sends php-fpm's log to our stderr pipe; /proc/self/fd/2 cannot be opened on a socket pair.
  const earlyExit = exited.then(() => {
    throw new Error(`php-fpm exited ${child.exitCode}: ${output}`);
  });
  try {
    await Promise.race([
      earlyExit,
      waitFor(
        async () => {
          const pong = await fcgiExchange(socket, { params: phpParams('/', '/fpm-ping') });
          return pong.body.toString() === 'pong';
        },
        { timeoutMs: 10_000, what: `php-fpm ${name} to answer its ping` },
      ),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  earlyExit.catch(() => {});

  return {
    socket,
    pid: child.pid as number,
    output: () => output,
    stop: () => stopProcess(child, exited),
    killAll: async () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {}
      await exited;
    },
  };
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGQUIT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
