import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { waitFor } from './wait-for.js';

/** A web server started by `launchServer`: what the tests of every server need from it. */
export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** What it wrote to stdout/stderr, then its log file if it has one. */
  readonly output: () => string;
  /** The graceful-stop signal, then a forced kill if it has not exited in time. */
  readonly stop: () => Promise<void>;
}

export interface ServerLaunch {
  /** For messages: `apache`, `nginx`, … */
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  /** Variables added to the test's environment (Caddy: HOME and XDG dirs in the temp dir). */
  readonly env?: Readonly<Record<string, string>>;
  /** The port its config listens on, on 127.0.0.1. */
  readonly port: number;
  /** Body of its `GET /.harness-ready`, so the probe knows it reached this server. */
  readonly readyToken: string;
  /** Appended to the piped output: a log the server writes to a file rather than stderr. */
  readonly logFile?: string;
  /** Its graceful stop (nginx SIGQUIT, Apache SIGWINCH, lighttpd SIGINT). */
  readonly stopSignal: NodeJS.Signals;
  /** How long `stop` waits after `stopSignal` before the forced kill. */
  readonly stopTimeoutMs: number;
  /**
   * The forced kill, given the pid. Without it the server runs in its own process group and
   * the whole group is SIGKILLed, so nothing it forked outlives it.
   */
  readonly forceKill?: (pid: number) => void;
}

/** A TCP port that was free a moment ago on 127.0.0.1; it may be taken again before use. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no TCP port'));
        else resolve(address.port);
      });
    });
  });
}

/**
 * Calls `start` with a free port and a fresh readiness token until it returns a server. A
 * string from `start` means the port was taken between picking and binding (it is the
 * server's output); after three of those, gives up with the last one.
 */
export async function startOnFreePort<T>(
  name: string,
  start: (port: number, readyToken: string) => Promise<T | string>,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const readyToken = randomBytes(8).toString('hex');
    const started = await start(port, readyToken);
    if (typeof started !== 'string') return started;
    if (attempt === 3) {
      throw new Error(`${name} found no free port in ${attempt} attempts: ${started}`);
    }
  }
}

/**
 * Spawns a foreground server and resolves once it answers its readiness token over HTTP, or
 * with its output (a string) if it exited because the port was already in use, for
 * `startOnFreePort` to retry. Any other failure kills it and throws with its output.
 */
export async function launchServer(launch: ServerLaunch): Promise<RunningServer | string> {
  const { name, port, readyToken, logFile } = launch;
  const child = spawn(launch.binary, launch.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(launch.env === undefined ? {} : { env: { ...process.env, ...launch.env } }),
    // Its own process group, so the group kill reaches whatever it forked.
    detached: launch.forceKill === undefined,
  });
  let piped = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    piped += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    piped += chunk.toString();
  });
  const output = () => {
    let log = '';
    if (logFile !== undefined) {
      try {
        log = readFileSync(logFile, 'utf8');
      } catch {}
    }
    return `${piped}${log}`;
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  const kill = () => forceKill(launch, child, exited);
  let settled = false;
  try {
    const outcome = await Promise.race([
      spawnFailed,
      exited.then(() => 'exited' as const),
      waitFor(async () => settled || (await httpGetBody(port, '/.harness-ready')) === readyToken, {
        timeoutMs: 10_000,
        what: `${name} to answer on 127.0.0.1:${port}`,
      }).then(() => 'ready' as const),
    ]);
    if (outcome === 'exited') {
      // Another process took the port after we picked it: the caller retries with its output.
      // Go servers (Caddy) say it in lower case.
      if (/address already in use/i.test(output())) return output();
      throw new Error(`${name} exited ${child.exitCode ?? child.signalCode}: ${output()}`);
    }
  } catch (error) {
    await kill();
    throw new Error(`${(error as Error).message}\n${output()}`);
  } finally {
    // Ends the probe loop when the server exited first.
    settled = true;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(launch.stopSignal);
      // The server's own graceful timeout bounds the stop; past it, nothing is waited for.
      const timer = setTimeout(() => void kill(), launch.stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function forceKill(
  launch: ServerLaunch,
  child: ChildProcess,
  exited: Promise<void>,
): Promise<void> {
  if (child.pid === undefined) return;
  if (launch.forceKill === undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  } else if (child.exitCode === null && child.signalCode === null) {
    // Not after an exit: the pid may already belong to another process.
    launch.forceKill(child.pid);
  }
  if (child.exitCode === null && child.signalCode === null) await exited;
}

/** One GET on 127.0.0.1 without keep-alive, resolving with the body whatever the status. */
export function httpGetBody(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 1_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('readiness probe timed out')));
    req.on('error', reject);
    req.end();
  });
}
