import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';

// Kept importable from here for the tests that take it with the switchyard helpers.
export { freePort } from './server-process.js';

import { waitFor } from './wait-for.js';

export interface SwitchyardProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly configPath: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Peak resident memory so far, in bytes (VmHWM). */
  peakRss(): number;
}

/**
 * The CLI as users run it, from source through tsx (no build step in the test loop). tsx is
 * named by its path, so the CLI also runs from other working directories.
 */
export const switchyardCommand = [
  process.execPath,
  '--import',
  createRequire(join(repoRoot, 'package.json')).resolve('tsx'),
  join(repoRoot, 'src/cli/main.ts'),
];

/** A CLI process under way, for tests that watch its output as it streams. */
export interface RunningCli {
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once its pipes are closed. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `switchyard <args>` in `cwd` (the repository unless told), under `runAs` when given
 * (e.g. `['setpriv', '--reuid=nobody', …]`).
 */
export function startCli(
  args: readonly string[],
  cwd = repoRoot,
  runAs: readonly string[] = [],
): RunningCli {
  const [command, ...rest] = [...runAs, ...switchyardCommand, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.on('close', resolve)),
  };
}

/** Runs `switchyard <args>` to completion: for commands that exit (bad config, version). */
export async function runSwitchyard(
  args: readonly string[],
  cwd?: string,
  runAs?: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args, cwd, runAs);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/**
 * Starts `switchyard daemon -c <dir>/switchyard.toml` with `configText`, and waits until it
 * logs that it is serving (or fails with its output when it exits first).
 */
export async function startSwitchyard(
  dir: string,
  configText: string,
  options: {
    /** A command the daemon runs under, e.g. `['prlimit', '--nofile=400:400', '--']`. */
    readonly under?: readonly string[];
  } = {},
): Promise<SwitchyardProcess> {
  const configPath = join(dir, 'switchyard.toml');
  // Parallel tests must not share the default control socket in /run/switchyard.
  const control = /^\[control\]/m.test(configText)
    ? ''
    : `\n[control]\nsocket = "${join(dir, 'control.sock')}"\n`;
  writeFileSync(configPath, configText + control);
  const [command, ...prefix] = [...(options.under ?? []), ...switchyardCommand] as [
    string,
    ...string[],
  ];
  const child = spawn(command, [...prefix, 'daemon', '-c', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  const exitedEarly = exited.then(async () => {
    // Let the pipes deliver what the process wrote before it exited.
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error(`switchyard exited early: ${stderr}${stdout}`);
  });
  try {
    await Promise.race([
      exitedEarly,
      waitFor(() => stdout.includes('switchyard is serving'), {
        timeoutMs: 15_000,
        what: 'switchyard to serve',
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  exitedEarly.catch(() => {});
  return {
    child,
    pid: child.pid as number,
    configPath,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    peakRss: () => {
      const status = readProcStatus(child.pid as number);
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      return match ? Number(match[1]) * 1024 : 0;
    },
  };
}

function readProcStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}
