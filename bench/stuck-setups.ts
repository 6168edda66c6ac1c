import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFpmStatus } from '../src/watchdog/fpm-status.js';
import { type RunningPhpFpm, startPhpFpm } from '../test/support/php-fpm.js';
import type { DeployStack } from './deploy-stack.js';
import type { PhpStackPrograms } from './php-stack-programs.js';
import { FpmBusyWatcher } from './stuck-fpm-watcher.js';

/** The four setups, in the order the tables show them. */
export const STUCK_SETUPS = ['plain', 'watcher', 'lanes', 'watchdog'] as const;
export type StuckSetupKind = (typeof STUCK_SETUPS)[number];

/** How the watcher of (b) gets php-fpm going again. */
export type RestartKind = 'restart' | 'reload';

export interface StuckSetupSettings {
  /** (b)'s threshold and (d)'s stuck_after: the same N seconds for both. */
  readonly stuckAfterS: number;
  /** (d)'s [watchdog] stuck_workers. */
  readonly stuckWorkers: number | 'all';
  readonly restart: RestartKind;
  /** How often (b)'s watcher asks for the status page. */
  readonly pollEveryMs: number;
}

/** One thing a setup did against the hang. */
export interface StuckAction {
  /** `restarted`, `reloaded`, `replacing replica-2`, `replica-2 stopped`. */
  readonly what: string;
  /** performance.now() when it began (a restart) or was logged (the daemon's). */
  readonly at: number;
}

export interface StuckSetup {
  readonly url: string;
  /** What the setup did against the hang so far: restarts, replacements, stuck replicas stopped. */
  readonly actions: () => readonly StuckAction[];
  /** Ends the setup's own watching; its stack's processes are stopped by the stack. */
  readonly finish: () => Promise<void>;
}

/** The page of a script that hangs while it holds its session's lock. */
export const HANG_PATH = '/hang.php?ms=600000';

/**
 * A script that takes the session lock and then waits on something that never answers (a dead
 * database, an HTTP call without a timeout) for ?ms=, at most 600 s. A signal does not cut the
 * wait short, as it would a plain usleep(): php-fpm's graceful stop and reload send SIGQUIT,
 * and a worker blocked in a socket read stays blocked.
 */
const HANG_PAGE = `<?php
$start = microtime(true);
session_start();
$ms = max(0, min(600000, (int) ($_GET['ms'] ?? 600000)));
$end = hrtime(true) + $ms * 1000000;
while (($left = $end - hrtime(true)) > 0) {
    usleep(intdiv($left, 1000) + 1);
}
session_write_close();
header('Content-Type: application/json');
echo json_encode(['start' => $start, 'end' => microtime(true), 'pid' => getmypid()]), "\\n";
`;

/** php-fpm's own pool (test/support/php-fpm.ts): its status page. */
const FPM_STATUS_PATH = '/fpm-status';
/** One php-fpm master of 8, as the 2 replicas of 4 behind switchyard. */
const DIRECT_CHILDREN = 8;
/** As DeployStack.startPhpFpm: a reload waits 10 s for requests in flight. */
const DIRECT_DIRECTIVES = ['[global]', 'process_control_timeout = 10s'];

/** Starts one setup in `stack`, its releases given the hang page first. */
export async function startStuckSetup(
  kind: StuckSetupKind,
  stack: DeployStack,
  programs: PhpStackPrograms,
  settings: StuckSetupSettings,
): Promise<StuckSetup> {
  for (const release of [stack.releases.r1, stack.releases.r2]) {
    writeFileSync(join(release, 'hang.php'), HANG_PAGE);
  }
  switch (kind) {
    case 'plain':
      return startDirect(stack, programs, null);
    case 'watcher':
      return startDirect(stack, programs, settings);
    case 'lanes':
      return startSwitchyard(stack, programs, []);
    case 'watchdog':
      return startSwitchyard(stack, programs, [
        '[watchdog]',
        `stuck_after = "${settings.stuckAfterS}s"`,
        `stuck_workers = ${JSON.stringify(settings.stuckWorkers)}`,
      ]);
  }
}

/**
 * (a) nginx (fastcgi_keep_conn off, its default) → one php-fpm master of 8; (b) the same with
 * the operator's watcher, which restarts it (as `systemctl restart php-fpm` does: SIGTERM to
 * the master and every child at once, then a new master) or reloads it (SIGUSR2).
 */
async function startDirect(
  stack: DeployStack,
  programs: PhpStackPrograms,
  watch: StuckSetupSettings | null,
): Promise<StuckSetup> {
  const first = await stack.startPhpFpm(programs.phpFpm, DIRECT_CHILDREN);
  const front = await stack.startNginx(programs.nginx, first.socket, {
    keepConn: false,
    realpathRoot: false,
  });
  if (watch === null) {
    return { url: front.url, actions: () => [], finish: async () => {} };
  }
  let master: RunningPhpFpm = first;
  const restart = async () => {
    if (watch.restart === 'reload') {
      process.kill(master.pid, 'SIGUSR2');
      // Done once the reloaded pool answers: the request waits in the backlog until then.
      await readFpmStatus({ kind: 'unix', path: master.socket }, FPM_STATUS_PATH, {
        timeoutMs: 60_000,
      }).catch(() => {});
      return;
    }
    const old = master;
    try {
      process.kill(-old.pid, 'SIGTERM');
    } catch {}
    // Waits for the master's exit (its SIGQUIT comes too late to matter).
    await old.stop();
    const next = await startPhpFpm({
      binary: programs.phpFpm,
      dir: join(stack.dir, 'fpm'),
      name: 'direct',
      children: DIRECT_CHILDREN,
      poolDirectives: DIRECT_DIRECTIVES,
    });
    stack.defer(() => next.killAll());
    master = next;
  };
  const watcher = new FpmBusyWatcher({
    socket: first.socket,
    statusPath: FPM_STATUS_PATH,
    thresholdMs: watch.stuckAfterS * 1000,
    pollEveryMs: watch.pollEveryMs,
    restart,
  });
  watcher.start();
  return {
    url: front.url,
    actions: () =>
      watcher.restarts.map((entry) => ({
        what: watch.restart === 'reload' ? 'reloaded' : 'restarted',
        at: entry.at,
      })),
    finish: () => watcher.stop(),
  };
}

/**
 * (c), (d) nginx (fastcgi_keep_conn on) → switchyard → 2 php-fpm replicas of 4 with lanes on
 * (an empty `[sessions]` table: its defaults) and `extra` tables. Both replicas keep their
 * session files in one directory, as replicas of one site must.
 */
async function startSwitchyard(
  stack: DeployStack,
  programs: PhpStackPrograms,
  extra: readonly string[],
): Promise<StuckSetup> {
  const saveDir = join(stack.dir, 'sessions');
  mkdirSync(saveDir);
  // As root, switchyard runs the workers as www-data: they must be able to create files here.
  chmodSync(saveDir, 0o1733);
  const pool = join(stack.dir, 'pool.conf');
  writeFileSync(pool, `php_admin_value[session.save_path] = ${saveDir}\n`);
  const logFile = join(stack.dir, 'switchyard.log');
  const daemon = await stack.startSwitchyard({
    cli: programs.cli,
    phpFpm: programs.phpFpm,
    capacity: 4,
    releaseHeader: 'X-Served-Release',
    sessions: [],
    pool,
    logFile,
    extra,
  });
  const front = await stack.startNginx(programs.nginx, daemon.socket, {
    keepConn: true,
    realpathRoot: false,
  });
  return {
    url: front.url,
    actions: () => replacementsLogged(readFileSync(logFile, 'utf8')),
    finish: async () => {
      // BENCH_STUCK_LOG_DIR=DIR keeps each daemon's log (the stack's directory goes).
      const keep = process.env.BENCH_STUCK_LOG_DIR;
      if (keep !== undefined && keep !== '') {
        mkdirSync(keep, { recursive: true });
        copyFileSync(logFile, join(keep, `${basename(stack.dir)}.log`));
      }
    },
  };
}

/**
 * From the daemon's JSON log: each `replica stuck (…): replacing it` line, and the stop of a
 * replica so marked (when its workers, the stuck one too, are gone).
 */
function replacementsLogged(log: string): StuckAction[] {
  const actions: StuckAction[] = [];
  const marked = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { time: number; msg?: string; replica?: string };
    const at = entry.time - performance.timeOrigin;
    const replica = entry.replica ?? '';
    if (entry.msg?.startsWith('replica stuck') === true) {
      marked.add(replica);
      actions.push({ what: `replacing ${replica}`, at });
    } else if (entry.msg?.startsWith('stopped') === true && marked.delete(replica)) {
      actions.push({ what: `${replica} stopped`, at });
    }
  }
  return actions;
}
