import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../test/support/wait-for.js';

/** The compiled CLI: the daemon is measured as users run it, not through tsx. */
export const BUILT_CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;

export interface BenchDaemon {
  readonly pid: number;
  readonly socket: string;
  /** SIGTERM (graceful, so a CPU profile is written), then SIGKILL to its process group. */
  readonly stop: () => Promise<void>;
}

export interface BenchDaemonOptions {
  readonly dir: string;
  /** The release symlink, relative to `dir` or absolute. */
  readonly symlink: string;
  readonly replicas: readonly string[];
  readonly capacity: number;
  /** When set, the daemon runs under `node --cpu-prof` and writes its profile here on exit. */
  readonly cpuProfileDir?: string | undefined;
  /** Another build's CLI (an A/B of a change); BUILT_CLI unless told. */
  readonly cli?: string | undefined;
}

/** Starts `node dist/cli/main.js daemon -c <dir>/switchyard.toml` and waits until it serves. */
export async function startBenchDaemon(options: BenchDaemonOptions): Promise<BenchDaemon> {
  const config = join(options.dir, 'switchyard.toml');
  writeFileSync(
    config,
    [
      '[listen]',
      'fastcgi = "unix:./switchyard.sock"',
      'mode = "0666"',
      '[release]',
      `symlink = "${options.symlink}"`,
      '[replicas]',
      'kind = "external"',
      `addresses = [${options.replicas.map((socket) => `"unix:${socket}"`).join(', ')}]`,
      `capacity = ${options.capacity}`,
      '[limits]',
      'queue = 1024',
      '[control]',
      'socket = "./control.sock"',
      '',
    ].join('\n'),
  );
  const profile =
    options.cpuProfileDir === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir];
  const cli = options.cli ?? BUILT_CLI;
  const child = spawn(process.execPath, [...profile, cli, 'daemon', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so nothing it starts can outlive the benchmark.
    detached: true,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const killGroup = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
  };
  try {
    await waitFor(
      () => {
        if (exited) throw new Error(`switchyard exited early: ${output}`);
        return output.includes('switchyard is serving');
      },
      { timeoutMs: 15_000, what: 'switchyard to serve' },
    );
  } catch (error) {
    killGroup();
    await exit;
    throw error;
  }
  return {
    pid: child.pid as number,
    socket: join(options.dir, 'switchyard.sock'),
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(killGroup, 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
