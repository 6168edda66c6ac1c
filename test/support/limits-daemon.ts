import { realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/control-client.js';
import { type DemoAppProcess, demoReleasesDir, startDemoApp, stopDemoApp } from './demo-app.js';
import { freePort, type SwitchyardProcess, startSwitchyard } from './switchyard-process.js';
import { makeTempDir } from './temp-dir.js';

export interface LimitsDaemonOptions {
  readonly label: string;
  /** Lines of the `[limits]` table. */
  readonly limits: readonly string[];
  /**
   * The two replicas' sockets, made by the test in `dir` (a scripted application); two demo
   * apps (release v1) are started when omitted.
   */
  readonly replicas?: (dir: string) => Promise<readonly [string, string]>;
  /** Environment of the demo app (DEMO_ACCESS_LOG=1 …). */
  readonly demoEnv?: Record<string, string>;
}

export interface LimitsDaemon {
  readonly dir: string;
  readonly fastcgiSocket: string;
  readonly httpUrl: string;
  readonly httpPort: number;
  /** The release directory the params of a request name (the demo app's cwd). */
  readonly release: string;
  readonly switchyard: SwitchyardProcess;
  readonly pid: number;
  /** The demo apps, when the replicas are. */
  readonly apps: readonly DemoAppProcess[];
  /** The daemon's JSON log records so far that carry `code`. */
  logged(code: string): Array<Record<string, unknown>>;
  /** Requests the replicas have in flight now, from `status`. */
  inFlight(): Promise<number>;
  cleanup(): Promise<void>;
}

/**
 * The real daemon over two external replicas (demo apps unless told), with the FastCGI
 * socket, the HTTP front and the `[limits]` lines a test gives: the client-facing limits are
 * the daemon's, whatever serves behind it.
 */
export async function startLimitsDaemon(options: LimitsDaemonOptions): Promise<LimitsDaemon> {
  const temp = makeTempDir(options.label);
  const apps: DemoAppProcess[] = [];
  const stopApps = () => Promise.all(apps.map((app) => stopDemoApp(app)));
  try {
    const release = realpathSync(join(demoReleasesDir, 'v1'));
    symlinkSync(release, join(temp.path, 'current'));
    let replicaSockets: readonly string[];
    if (options.replicas === undefined) {
      replicaSockets = ['a.sock', 'b.sock'].map((name) => join(temp.path, name));
      await Promise.all(
        replicaSockets.map(async (socketPath) => {
          const app = await startDemoApp({
            cwd: release,
            socketPath,
            ...(options.demoEnv === undefined ? {} : { env: options.demoEnv }),
          });
          apps.push(app);
        }),
      );
    } else {
      replicaSockets = await options.replicas(temp.path);
    }
    const httpPort = await freePort();
    const fastcgiSocket = join(temp.path, 'front.sock');
    const switchyard = await startSwitchyard(
      temp.path,
      [
        '[listen]',
        `fastcgi = "unix:${fastcgiSocket}"`,
        `http = "127.0.0.1:${httpPort}"`,
        '[release]',
        `symlink = "${join(temp.path, 'current')}"`,
        '[replicas]',
        'kind = "external"',
        `addresses = [${replicaSockets.map((path) => JSON.stringify(`unix:${path}`)).join(', ')}]`,
        'capacity = 4',
        '[limits]',
        ...options.limits,
        '',
      ].join('\n'),
    );
    return {
      dir: temp.path,
      fastcgiSocket,
      httpUrl: `http://127.0.0.1:${httpPort}`,
      httpPort,
      release,
      switchyard,
      pid: switchyard.pid,
      apps,
      logged: (code) => logRecords(switchyard.stdout()).filter((record) => record.code === code),
      inFlight: async () =>
        (await new ControlClient(join(temp.path, 'control.sock')).status()).replicas.reduce(
          (sum, replica) => sum + replica.inFlight,
          0,
        ),
      cleanup: async () => {
        const { child } = switchyard;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await switchyard.exited;
        }
        await stopApps();
        temp.remove();
      },
    };
  } catch (error) {
    await stopApps();
    temp.remove();
    throw error;
  }
}

function logRecords(stdout: string): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (const line of stdout.split('\n')) {
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log record, or the last line still arriving
    }
  }
  return records;
}
