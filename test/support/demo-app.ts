// Starts and stops fixtures/demo-app/app.mjs as real child processes.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait-for.js';

export const demoAppPath = path.join(repoRoot, 'fixtures', 'demo-app', 'app.mjs');
export const demoReleasesDir = path.join(repoRoot, 'fixtures', 'demo', 'releases');

export interface DemoAppProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves once the process has exited (not on its stdio closing). */
  readonly exited: Promise<DemoAppExit>;
  /** The exit, once it happened. */
  exit(): DemoAppExit | undefined;
}

export interface DemoAppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnDemoAppOptions {
  /** The release directory: the app's cwd. */
  cwd: string;
  /** Unix socket path to listen on; omitted for the inherited socket on fd 0. */
  socketPath?: string;
  /** Descriptor that becomes the child's fd 0 (a listening socket); stdin is ignored otherwise. */
  stdinFd?: number;
  env?: Record<string, string>;
}

const running = new Set<DemoAppProcess>();

/** Spawns the demo app without waiting for it to listen. */
export function spawnDemoApp(options: SpawnDemoAppOptions): DemoAppProcess {
  const args = [demoAppPath];
  if (options.socketPath !== undefined) args.push('--socket', options.socketPath);
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // Inherited from a developer's shell, these would override the test's choices.
  delete env.DEMO_SOCKET;
  if (options.env?.SWITCHYARD_RELEASE_DIR === undefined) delete env.SWITCHYARD_RELEASE_DIR;
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env,
    stdio: [options.stdinFd ?? 'ignore', 'ignore', 'pipe'],
  });
  const { pid } = child;
  if (pid === undefined) throw new Error(`could not spawn ${demoAppPath}`);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  let exit: DemoAppExit | undefined;
  const exited = new Promise<DemoAppExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const app: DemoAppProcess = {
    child,
    pid,
    stderr: () => stderr,
    exited,
    exit: () => exit,
  };
  running.add(app);
  void exited.then(() => running.delete(app));
  return app;
}

/** Starts the demo app on `socketPath` and resolves once it accepts connections there. */
export async function startDemoApp(options: {
  cwd: string;
  socketPath: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<DemoAppProcess> {
  const app = spawnDemoApp(options);
  await untilReady(app, options.timeoutMs ?? 10_000, 'accepting on its socket', () =>
    canConnect(options.socketPath),
  );
  return app;
}

export interface SharedSocketDemoApps {
  apps: DemoAppProcess[];
  /** Where clients connect; the children listen on it through their fd 0. */
  socketPath: string;
}

/**
 * Creates a listening unix socket at `socketPath` and starts `count` demo apps that all serve
 * it from fd 0, as php-cgi -b or spawn-fcgi children do. Resolves once each one listens.
 */
export async function startDemoAppsOnSharedSocket(options: {
  cwd: string;
  socketPath: string;
  count: number;
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<SharedSocketDemoApps> {
  const { socketPath } = options;
  // libuv unlinks a pipe server's path when it is closed, and the test's copy is closed as
  // soon as the children hold the socket: bind a scratch name, then rename it into place.
  const scratchPath = `${socketPath}.${process.pid}.bind`;
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(scratchPath, () => resolve());
  });
  const apps: DemoAppProcess[] = [];
  try {
    fs.renameSync(scratchPath, socketPath);
    const fd = (server as unknown as { _handle: { fd: number } | null })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) throw new Error('cannot get the listening socket fd');
    for (let i = 0; i < options.count; i += 1) {
      const spawnOptions: SpawnDemoAppOptions = { cwd: options.cwd, stdinFd: fd };
      if (options.env) spawnOptions.env = options.env;
      apps.push(spawnDemoApp(spawnOptions));
    }
  } finally {
    // The children have their own copies now (spawn dups fds synchronously). Until this close,
    // the test process could itself accept connections, so nothing connects before it.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // A connect would succeed on the kernel backlog alone, so readiness is each app's log line.
  await Promise.all(
    apps.map((app) =>
      untilReady(app, options.timeoutMs ?? 10_000, 'listening on fd 0', () =>
        app.stderr().includes('listening on fd 0'),
      ),
    ),
  );
  return { apps, socketPath };
}

/** Sends SIGTERM (unless told otherwise) and resolves with the exit; SIGKILLs after the bound. */
export async function stopDemoApp(
  app: DemoAppProcess,
  options: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<DemoAppExit> {
  const { signal = 'SIGTERM', timeoutMs = 10_000 } = options;
  if (!app.exit()) app.child.kill(signal);
  try {
    await waitFor(() => app.exit(), { timeoutMs, what: `demo app pid ${app.pid} to exit` });
  } catch (error) {
    app.child.kill('SIGKILL');
    await app.exited;
    throw new Error(`${(error as Error).message}; killed it. stderr:\n${app.stderr()}`);
  }
  return app.exited;
}

/** SIGKILLs every demo app still running; for afterEach/afterAll. */
export async function killAllDemoApps(): Promise<void> {
  const apps = [...running];
  for (const app of apps) if (!app.exit()) app.child.kill('SIGKILL');
  await Promise.all(apps.map((app) => app.exited));
}

/** Resolves when `probe` holds; rejects at once, with the app's stderr, if the app exits. */
async function untilReady(
  app: DemoAppProcess,
  timeoutMs: number,
  what: string,
  probe: () => boolean | Promise<boolean>,
): Promise<void> {
  const describe = `demo app pid ${app.pid} ${what}`;
  let settledReady = false;
  const died = app.exited.then((exit) => {
    if (settledReady) return;
    throw new Error(
      `${describe}: exited early (code ${exit.code}, signal ${exit.signal}). stderr:\n${app.stderr()}`,
    );
  });
  try {
    await Promise.race([
      waitFor(async () => app.exit() === undefined && (await probe()), {
        timeoutMs,
        what: describe,
      }),
      died,
    ]);
  } catch (error) {
    if (app.exit() === undefined) {
      throw new Error(`${(error as Error).message}. stderr so far:\n${app.stderr()}`);
    }
    throw error;
  } finally {
    settledReady = true;
  }
}

/** Whether a unix socket at `socketPath` accepts a connection. */
export function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
