import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandReplicasConfig } from '../../src/config/config-types.js';
import { silentLogger } from '../../src/log.js';
import {
  CommandLauncher,
  SOCKET_PLACEHOLDER,
} from '../../src/supervisor/workers/command-launcher.js';
import { liveGroupMembers } from '../../src/supervisor/workers/process-stop.js';
import type { Worker, WorkerSpec } from '../../src/supervisor/workers/worker.js';
import { isWorkerError, type WorkerError } from '../../src/supervisor/workers/worker-error.js';
import { canConnect, demoAppPath, demoReleasesDir } from '../support/demo-app.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const v1 = realpathSync(join(demoReleasesDir, 'v1'));
const r1 = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const phpCgi = requireSystemTool(SystemTool.phpCgi);

/** The config's capacity is the default; what counts is the spec's (WorkerSpec.capacity). */
function replicas(
  argv: readonly string[],
  env: Record<string, string> = {},
): CommandReplicasConfig {
  return {
    kind: 'command',
    count: 2,
    capacity: 2,
    idleTimeoutMs: 30_000,
    connectTimeoutMs: 2_000,
    surge: false,
    surgeMarginBytes: 0,
    command: { argv, env },
  };
}

function socketOf(worker: Worker): string {
  if (worker.address.kind !== 'unix') throw new Error('expected a unix socket');
  return worker.address.path;
}

/** The environment a process was started with, from /proc. */
function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(
    entries.map((entry) => [
      entry.slice(0, entry.indexOf('=')),
      entry.slice(entry.indexOf('=') + 1),
    ]),
  );
}

function allGone(pids: readonly number[]): boolean {
  return pids.every((pid) => liveGroupMembers(pid).length === 0);
}

/** Whether `promise` has settled by the time already-queued callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  const winner = await Promise.race([
    promise,
    new Promise((resolve) => setImmediate(resolve, pending)),
  ]);
  return winner !== pending;
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs}ms: ${what}`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function listensItself(config: CommandReplicasConfig): boolean {
  const { argv, env } = config.command;
  return [...argv, ...Object.values(env)].some((text) => text.includes(SOCKET_PLACEHOLDER));
}

describe('CommandLauncher', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let workers: Worker[];

  function launcher(config: CommandReplicasConfig, drainTimeoutMs = 5_000) {
    const inner = new CommandLauncher({
      replicas: config,
      runtimeDir: temp.path,
      drainTimeoutMs,
      logger: silentLogger(),
    });
    return {
      launch: async (spec: WorkerSpec) => {
        const worker = await inner.launch(spec);
        workers.push(worker);
        // A `{socket}` command's launch() resolves once the socket file exists, which may be a
        // moment before it listens (the supervisor's start-up health checks retry): these
        // tests talk to it at once.
        if (listensItself(config)) {
          await waitFor(() => canConnect(socketOf(worker)), {
            timeoutMs: 5_000,
            what: 'the command to listen',
          });
        }
        return worker;
      },
    };
  }

  function spec(overrides: Partial<WorkerSpec> = {}): WorkerSpec {
    return { name: 'replica-1', incarnation: 1, release: v1, capacity: 2, ...overrides };
  }

  beforeEach(() => {
    temp = makeTempDir('cmdw');
    workers = [];
  });

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop(1_000)));
    temp.remove();
  });

  describe('the demo app on a socket switchyard passes as fd 0', () => {
    it('starts capacity + 1 processes that share the socket, in the release', async () => {
      const worker = await launcher(replicas([process.execPath, demoAppPath])).launch(spec());
      expect(worker.pids).toHaveLength(3);
      expect(worker.address).toEqual({ kind: 'unix', path: join(temp.path, 'replica-1.1.sock') });

      // Connections queue in the socket's backlog until the apps accept: no readiness wait.
      const seen = new Set<number>();
      await waitFor(
        async () => {
          const batch = await Promise.all(
            Array.from({ length: 6 }, () =>
              fcgiExchange(socketOf(worker), { params: phpParams(v1, '/release.json') }),
            ),
          );
          for (const response of batch) {
            expect(response.status).toBe(200);
            const page = JSON.parse(response.body.toString());
            expect(page).toMatchObject({ release: 'v1', dir: v1 });
            expect(worker.pids).toContain(page.pid);
            seen.add(page.pid);
          }
          return seen.size >= 2;
        },
        { timeoutMs: 10_000, what: 'requests to be answered by more than one process' },
      );

      for (const pid of worker.pids) {
        expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(v1);
        expect(environOf(pid)).toMatchObject({
          SWITCHYARD_RELEASE_DIR: v1,
          SWITCHYARD_REPLICA: 'replica-1',
          PHP_FCGI_MAX_REQUESTS: '0',
        });
      }
    });

    it('stop() lets in-flight requests finish, leaves no process and removes the socket', async () => {
      const worker = await launcher(
        replicas([process.execPath, demoAppPath], { DEMO_ACCESS_LOG: '1' }),
      ).launch(spec());
      const slow = fcgiExchange(socketOf(worker), { params: phpParams(v1, '/sleep?ms=500') });
      await waitFor(() => worker.outputTail().includes('GET /sleep?ms=500'), {
        timeoutMs: 10_000,
        what: 'the slow request to arrive',
      });

      expect(await worker.stop(5_000)).toEqual({ forced: false });
      const response = await slow;
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toMatchObject({ slept: 500 });
      // The first exit: an app that had not yet installed its handler dies of the SIGTERM itself.
      expect(worker.pids).toContain((await worker.exited).pid);
      expect(allGone(worker.pids)).toBe(true);
      expect(existsSync(socketOf(worker))).toBe(false);
    });
  });

  describe('a command that listens on {socket} itself', () => {
    it('starts one process with the socket in its argv', async () => {
      const worker = await launcher(
        replicas([process.execPath, demoAppPath, '--socket', '{socket}']),
      ).launch(spec({ incarnation: 5 }));
      expect(worker.pids).toHaveLength(1);
      const socket = join(temp.path, 'replica-1.5.sock');
      expect(worker.address).toEqual({ kind: 'unix', path: socket });
      const response = await fcgiExchange(socket, { params: phpParams(v1, '/release.json') });
      expect(JSON.parse(response.body.toString())).toMatchObject({
        release: 'v1',
        pid: worker.pids[0],
      });

      expect(await worker.stop(5_000)).toEqual({ forced: false });
      expect(allGone(worker.pids)).toBe(true);
      expect(existsSync(socket)).toBe(false);
    });

    it('starts one process with the socket in its environment', async () => {
      const worker = await launcher(
        replicas([process.execPath, demoAppPath], { DEMO_SOCKET: '{socket}' }),
      ).launch(spec());
      expect(worker.pids).toHaveLength(1);
      expect(environOf(worker.pids[0] as number).DEMO_SOCKET).toBe(socketOf(worker));
      const response = await fcgiExchange(socketOf(worker), { params: phpParams(v1, '/') });
      expect(response.body.toString()).toContain('release v1');
    });

    it('rejects launch when the process exits before its socket appears', async () => {
      const error = await launcher(
        replicas(['/bin/sh', '-c', 'echo "no socket at $1" >&2; exit 3', 'sh', '{socket}']),
      )
        .launch(spec())
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect(isWorkerError(error)).toBe(true);
      const workerError = error as WorkerError;
      expect(workerError.code).toBe('ERR_WORKER_EXITED');
      expect(workerError.exit).toMatchObject({ code: 3, signal: null });
      expect(workerError.message).toContain(`no socket at ${join(temp.path, 'replica-1.1.sock')}`);
    });
  });

  describe('processes that end on their own or will not stop', () => {
    it('rejects launch with ERR_WORKER_SPAWN when nothing can start, and leaves nothing', async () => {
      const missing = join(temp.path, 'no-such-release');
      const error = await launcher(replicas([process.execPath, demoAppPath]))
        .launch(spec({ release: missing }))
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect(isWorkerError(error)).toBe(true);
      expect((error as WorkerError).code).toBe('ERR_WORKER_SPAWN');
      expect((error as WorkerError).message).toContain('ENOENT');
      expect(existsSync(join(temp.path, 'replica-1.1.sock'))).toBe(false);
    });

    it('reports a process that dies right after its start through exited, with its output', async () => {
      const worker = await launcher(
        replicas(['/bin/sh', '-c', 'echo "dying at once" >&2; exit 3']),
      ).launch(spec({ capacity: 1 }));
      expect(worker.pids).toHaveLength(2);
      const exit = await within(worker.exited, 5_000, 'the process to exit');
      expect(exit).toMatchObject({ code: 3, signal: null });
      expect(worker.pids).toContain(exit.pid);
      await waitFor(() => worker.outputTail().includes('dying at once'), {
        timeoutMs: 5_000,
        what: 'the output of the dead process',
      });

      expect(await worker.stop(1_000)).toEqual({ forced: false });
      expect(allGone(worker.pids)).toBe(true);
      expect(existsSync(socketOf(worker))).toBe(false);
    });

    it('clears what a process that exited left in its group', async () => {
      const worker = await launcher(
        replicas(['/bin/sh', '-c', 'sleep 60 & echo "child $!"; exit 5']),
      ).launch(spec({ capacity: 1 }));
      const exit = await within(worker.exited, 5_000, 'the shell to exit');
      expect(exit.code).toBe(5);
      await waitFor(() => liveGroupMembers(exit.pid).length === 0, {
        timeoutMs: 5_000,
        what: `the sleep left in group ${exit.pid} to be stopped`,
      });
    });

    it('SIGKILLs a process group that ignores SIGTERM after the grace, and says so', async () => {
      const worker = await launcher(
        replicas(['/bin/sh', '-c', 'trap "" TERM; echo trapped; while :; do sleep 1; done']),
      ).launch(spec({ capacity: 1 }));
      await waitFor(() => worker.outputTail().split('trapped').length === 3, {
        timeoutMs: 5_000,
        what: 'both shells to ignore SIGTERM',
      });
      const stopping = Date.now();
      expect(await worker.stop(300)).toEqual({ forced: true });
      expect(Date.now() - stopping).toBeLessThan(3_000);
      expect(allGone(worker.pids)).toBe(true);
      expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    });
  });

  describe.skipIf(phpCgi === undefined)('php-cgi on fd 0', () => {
    const cgi = (env: Record<string, string> = {}) => launcher(replicas([phpCgi as string], env));

    it('serves a PHP script over many requests', async () => {
      const worker = await cgi().launch(spec({ release: r1, capacity: 1 }));
      expect(worker.pids).toHaveLength(2);
      for (let i = 0; i < 20; i += 1) {
        const response = await fcgiExchange(socketOf(worker), {
          params: phpParams(r1, '/hello.php'),
        });
        expect(response.status).toBe(200);
        expect(response.body.toString()).toBe('Hello, world\n');
      }
      const where = await fcgiExchange(socketOf(worker), { params: phpParams(r1, '/where.php') });
      expect(JSON.parse(where.body.toString())).toMatchObject({ dir: r1, cwd: r1, env: r1 });
    });

    it("serves past php-cgi's default of 500 requests per process (PHP_FCGI_MAX_REQUESTS=0)", async () => {
      const worker = await cgi().launch(spec({ release: r1, capacity: 1 }));
      // Two processes: 1001 requests take one of them past 500.
      for (let i = 0; i < 1001; i += 1) {
        const response = await fcgiExchange(socketOf(worker), {
          params: phpParams(r1, '/hello.php'),
        });
        expect(response.status).toBe(200);
      }
      expect(await settled(worker.exited)).toBe(false);
    });

    it('keeps a PHP_FCGI_MAX_REQUESTS the configuration sets', async () => {
      const worker = await cgi({ PHP_FCGI_MAX_REQUESTS: '2' }).launch(
        spec({ release: r1, capacity: 1 }),
      );
      // Two processes, two requests each: the third request takes one of them to its limit.
      for (let i = 0; i < 3; i += 1) {
        const response = await fcgiExchange(socketOf(worker), {
          params: phpParams(r1, '/hello.php'),
        });
        expect(response.status).toBe(200);
      }
      expect(await within(worker.exited, 5_000, 'php-cgi to retire')).toMatchObject({
        code: 0,
        signal: null,
      });
    });
  });
});
