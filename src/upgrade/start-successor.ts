import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CodedError } from '../coded-error.js';
import { UPGRADE_FD_VARIABLE, UPGRADE_FROM_VARIABLE } from '../systemd/systemd-environment.js';
import { MAX_REPORT_BYTES, parseHandoverReport } from './handover-report.js';

/** The listening sockets a daemon hands to its successor, as descriptors of this process. */
export interface HandedSockets {
  readonly fastcgi: number;
  readonly control: number;
  readonly http: number | null;
}

export interface SuccessorOptions {
  /** The command line: the running daemon's own, or a new build's. */
  readonly argv: readonly [string, ...string[]];
  readonly sockets: HandedSockets;
  /** Passed on so the successor notifies systemd itself (MAINPID=, READY=1). */
  readonly notifySocket: string | null;
  readonly watchdogUsec: number | null;
  /** How long it may take to start its replicas and report ready. */
  readonly timeoutMs: number;
}

export type UpgradeErrorCode = 'ERR_UPGRADE_FAILED';

/** The successor did not become ready: why, in its own words where it said. */
export class UpgradeError extends CodedError<UpgradeErrorCode> {
  override readonly name = 'UpgradeError';
}

/** A successor that reported ready: it accepts on the sockets now, beside this daemon. */
export interface ReadySuccessor {
  readonly pid: number;
  readonly child: ChildProcess;
}

/**
 * Starts the successor with the listening sockets at fd 3, 4 (and 5), as systemd passes them
 * (LISTEN_FDS, LISTEN_FDNAMES; LISTEN_PID and WATCHDOG_PID set to its own pid by the shell it
 * execs from, which is how a parent learns a pid it cannot know before the fork), and a pipe
 * it reports on. Resolves once it reports ready; rejects with its reason when it reports a
 * failure, exits, or outlives `timeoutMs` (then it is stopped: SIGTERM stops its replicas).
 */
export function startSuccessor(
  options: SuccessorOptions,
  onStarted: (pid: number) => void,
): Promise<ReadySuccessor> {
  const { sockets } = options;
  const fds = [sockets.fastcgi, sockets.control, ...(sockets.http === null ? [] : [sockets.http])];
  const names = ['fastcgi', 'control', ...(sockets.http === null ? [] : ['http'])];
  const reportFd = 3 + fds.length;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LISTEN_FDS: String(fds.length),
    LISTEN_FDNAMES: names.join(':'),
    [UPGRADE_FROM_VARIABLE]: String(process.pid),
    [UPGRADE_FD_VARIABLE]: String(reportFd),
  };
  if (options.notifySocket !== null) env.NOTIFY_SOCKET = options.notifySocket;
  if (options.watchdogUsec !== null) env.WATCHDOG_USEC = String(options.watchdogUsec);
  const script = `LISTEN_PID=$$ ${options.watchdogUsec === null ? '' : 'WATCHDOG_PID=$$ '}exec "$@"`;
  const child = spawn('/bin/sh', ['-c', script, 'switchyard-upgrade', ...options.argv], {
    env,
    stdio: ['ignore', 'inherit', 'inherit', ...fds, 'pipe'],
  });
  return new Promise<ReadySuccessor>((resolve, reject) => {
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      reject(new UpgradeError('ERR_UPGRADE_FAILED', message));
    };
    const timer = setTimeout(
      () =>
        fail(
          `the new daemon did not report ready within ${Math.round(options.timeoutMs / 1000)} s: stopped it`,
        ),
      options.timeoutMs,
    );
    child.once('error', (error) => fail(`cannot start the new daemon: ${error.message}`));
    child.once('spawn', () => {
      if (child.pid !== undefined) onStarted(child.pid);
    });
    const pipe = child.stdio[reportFd] as Readable;
    child.once('exit', (code, signal) => {
      // Its report may still be in the pipe: read it first (a replica of it may hold the pipe
      // open a moment longer, hence the bound).
      const exited = () =>
        fail(`the new daemon exited (${signal ?? `exit code ${code}`}) before it was ready`);
      if (pipe.destroyed) exited();
      else {
        pipe.once('close', exited);
        setTimeout(exited, 2_000).unref();
      }
    });
    readReport(pipe, (line) => {
      const report = parseHandoverReport(line);
      if (report === null) {
        fail(`the new daemon reported something unreadable: ${line.slice(0, 200)}`);
      } else if (!report.ok) {
        fail(report.message);
      } else if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ pid: report.pid, child });
      }
    });
  });
}

/** The first line on the pipe, bounded; nothing at all when it closes without one. */
function readReport(pipe: Readable, onLine: (line: string) => void): void {
  let text = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (chunk: string) => {
    text += chunk;
    const end = text.indexOf('\n');
    if (end >= 0) {
      pipe.destroy();
      onLine(text.slice(0, end));
    } else if (text.length > MAX_REPORT_BYTES) {
      pipe.destroy();
      onLine(text.slice(0, 200));
    }
  });
  pipe.on('error', () => {});
}
