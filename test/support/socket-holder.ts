import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait-for.js';

/** One daemon generation the holder started on its socket. */
export interface HeldGeneration {
  readonly pid: number;
  /** Its stdout and stderr together. */
  output(): string;
}

export interface SocketHolder {
  /** Starts the next generation on the held socket (as a socket unit starts its service). */
  start(): Promise<HeldGeneration>;
  /** Closes the socket; the holder exits once every generation has. */
  close(): Promise<void>;
}

/**
 * test/support/socket-holder.py: a listening unix socket at `path` kept open across daemon
 * generations, each started with it as fd 3 (LISTEN_FDS=1, LISTEN_FDNAMES=`name`, its own
 * LISTEN_PID), as systemd does with a socket unit across `systemctl restart`.
 */
export async function startSocketHolder(
  path: string,
  name: string,
  logDir: string,
  command: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<SocketHolder> {
  const child = spawn(
    'python3',
    [join(repoRoot, 'test/support/socket-holder.py'), path, name, logDir, '--', ...command],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  const lines: Array<{ listening?: string; pid?: number; log?: string }> = [];
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let end = buffered.indexOf('\n');
    while (end >= 0) {
      lines.push(JSON.parse(buffered.slice(0, end)));
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => lines.some((line) => line.listening !== undefined), {
    timeoutMs: 10_000,
    what: 'the socket holder to listen',
  });
  let started = 0;
  return {
    start: async () => {
      const seen = started;
      started += 1;
      child.stdin.write('start\n');
      const line = await waitFor(() => lines.filter((entry) => entry.pid !== undefined)[seen], {
        timeoutMs: 10_000,
        what: `generation ${seen + 1} to start`,
      });
      const log = line.log as string;
      return {
        pid: line.pid as number,
        output: () => {
          try {
            return readFileSync(log, 'utf8');
          } catch {
            return '';
          }
        },
      };
    },
    close: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
