import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface CliRun {
  /** The exit code; null when a signal ended it. */
  readonly code: number | null;
  /** stdout and stderr as they came, interleaved. */
  readonly output: string;
  /** performance.now() when its `cut-over` line arrived (a deploy's toggle), if one did. */
  readonly cutOver?: number;
}

/**
 * `node <cli> <args> -c <config>`, as an operator runs it against a daemon: what it printed and
 * how it exited. Never rejects: a benchmark accounts for a failed command instead.
 */
export function runSwitchyardCli(
  cli: string,
  args: readonly string[],
  config: string,
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, '-c', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let cutOver: number | undefined;
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (cutOver === undefined && output.includes('cut-over')) cutOver = performance.now();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => {
      output += `\n${error.message}`;
    });
    child.on('close', (code) =>
      resolve({ code, output, ...(cutOver === undefined ? {} : { cutOver }) }),
    );
  });
}
