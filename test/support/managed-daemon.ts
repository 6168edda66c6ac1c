import { chmodSync, cpSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlClient } from '../../src/control/control-client.js';
import type { DaemonStatus } from '../../src/control/messages.js';
import { survivors } from './process-tree.js';
import { repoRoot } from './repo-root.js';
import {
  freePort,
  runSwitchyard,
  type SwitchyardProcess,
  startSwitchyard,
} from './switchyard-process.js';
import { makeTempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

export interface ManagedDaemonOptions {
  readonly label: string;
  /** The `[replicas]` table and its sub-table, as TOML lines (kind, count, capacity, …). */
  readonly replicas: readonly string[];
  /** A release directory to copy into the temp dir (tests may write into the copy). */
  readonly releaseSource: string;
  /** Extra TOML lines appended (e.g. a `[health]` table). */
  readonly extra?: readonly string[];
  /** Extra lines for the `[listen]` table. */
  readonly listenExtra?: readonly string[];
  /** Extra lines for the `[release]` table (`<dir>` in them is the temp directory). */
  readonly releaseExtra?: readonly string[];
  /** Directory name of the first release under `<dir>/releases`; `one` unless told. */
  readonly firstRelease?: string;
  /** `[drain] timeout`, "10s" unless told. */
  readonly drainTimeout?: string;
}

export interface ManagedDaemon {
  readonly dir: string;
  readonly symlink: string;
  /** The resolved release directory (the copy). */
  readonly release: string;
  readonly httpUrl: string;
  readonly fastcgiSocket: string;
  readonly controlSocket: string;
  readonly switchyard: SwitchyardProcess;
  status(): Promise<DaemonStatus>;
  /** Every pid the daemon reports for its replicas right now. */
  replicaPids(): Promise<number[]>;
  /** `switchyard <args> -c <config>` as a user runs it. */
  cli(args: readonly string[]): ReturnType<typeof runSwitchyard>;
  /** Waits until every replica is ready (and, when given, `count` of them). */
  waitReady(what: string, timeoutMs?: number): Promise<DaemonStatus>;
  /** Copies `source` to `<dir>/releases/<name>` and returns its path (resolved). */
  addRelease(name: string, source: string): string;
  /** Stops the daemon (SIGTERM, SIGKILL after 15 s), kills leftovers, removes the directory. */
  cleanup(): Promise<void>;
}

/** `[health]` settings that make tests quick without racing a loaded machine. */
export const QUICK_HEALTH = [
  '[health]',
  'interval = "500ms"',
  'timeout = "2s"',
  'start_timeout = "20s"',
];

/** The demo app as a command replica: node on fd 0. */
export const DEMO_APP_REPLICAS = (count = 2, capacity = 4, surge = false): string[] => [
  '[replicas]',
  'kind = "command"',
  `count = ${count}`,
  `capacity = ${capacity}`,
  `surge = ${surge}`,
  '[replicas.command]',
  `argv = [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(repoRoot, 'fixtures/demo-app/app.mjs'))}]`,
];

export const demoRelease = (name: 'v1' | 'v2' = 'v1'): string =>
  join(repoRoot, 'fixtures/demo/releases', name);

/**
 * Starts `switchyard daemon` managing its own replicas, with a release copied into a temp
 * directory behind a `current` symlink, the HTTP front on a free port and a control socket.
 */
export async function startManagedDaemon(options: ManagedDaemonOptions): Promise<ManagedDaemon> {
  const temp = makeTempDir(options.label);
  const seen = new Set<number>();
  try {
    // php-fpm workers run as www-data when the tests run as root: they must read the release.
    chmodSync(temp.path, 0o755);
    const release = join(temp.path, 'releases', options.firstRelease ?? 'one');
    cpSync(options.releaseSource, release, { recursive: true });
    const symlink = join(temp.path, 'current');
    symlinkSync(release, symlink);
    const port = await freePort();
    const fastcgiSocket = join(temp.path, 'switchyard.sock');
    const controlSocket = join(temp.path, 'control.sock');
    const config = [
      '[listen]',
      `fastcgi = "unix:${fastcgiSocket}"`,
      `http = "127.0.0.1:${port}"`,
      ...(options.listenExtra ?? []),
      '[release]',
      `symlink = "${symlink}"`,
      ...(options.releaseExtra ?? []).map((line) => line.replaceAll('<dir>', temp.path)),
      ...options.replicas,
      ...(options.extra ?? []),
      ...(options.extra?.some((line) => line.trim() === '[health]') ? [] : QUICK_HEALTH),
      '[drain]',
      `timeout = "${options.drainTimeout ?? '10s'}"`,
      '[control]',
      `socket = "${controlSocket}"`,
      '[paths]',
      `runtime = "${join(temp.path, 'run')}"`,
      `state = "${join(temp.path, 'state')}"`,
      '[log]',
      'level = "info"',
      '',
    ].join('\n');
    const switchyard = await startSwitchyard(temp.path, config);
    const client = new ControlClient(controlSocket);
    const status = async () => {
      const result = await client.status();
      for (const replica of result.replicas) for (const pid of replica.pids) seen.add(pid);
      return result;
    };
    const daemon: ManagedDaemon = {
      dir: temp.path,
      symlink,
      release: realpathSync(release),
      httpUrl: `http://127.0.0.1:${port}`,
      fastcgiSocket,
      controlSocket,
      switchyard,
      status,
      addRelease: (name, source) => {
        const path = join(temp.path, 'releases', name);
        cpSync(source, path, { recursive: true });
        return realpathSync(path);
      },
      replicaPids: async () => (await status()).replicas.flatMap((replica) => replica.pids),
      cli: (args) => runSwitchyard([...args, '-c', switchyard.configPath]),
      waitReady: (what, timeoutMs = 30_000) =>
        waitFor(
          async () => {
            const current = await status();
            return current.replicas.length > 0 &&
              current.replicas.every((replica) => replica.state === 'ready')
              ? current
              : null;
          },
          { timeoutMs, what, intervalMs: 100 },
        ),
      cleanup: async () => {
        if (switchyard.child.exitCode === null && switchyard.child.signalCode === null) {
          switchyard.child.kill('SIGTERM');
          const timer = setTimeout(() => switchyard.child.kill('SIGKILL'), 15_000);
          await switchyard.exited;
          clearTimeout(timer);
        }
        await killLeftovers([...seen]);
        temp.remove();
      },
    };
    await daemon.waitReady('the replicas to be ready after start');
    return daemon;
  } catch (error) {
    await killLeftovers([...seen]);
    temp.remove();
    throw error;
  }
}

/** A failed test must not leave workers behind for the next one. */
async function killLeftovers(pids: readonly number[]): Promise<void> {
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
