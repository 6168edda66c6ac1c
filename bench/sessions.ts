import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { isFailure } from './deploy-metrics.js';
import type { DeployStack } from './deploy-stack.js';
import { positiveKnob } from './env-knobs.js';
import { type ChartPanel, latencyChart } from './latency-chart.js';
import { formatLoad } from './load-average.js';
import { phpStackPrograms } from './php-stack-programs.js';
import { runAjaxBurst, runGlobalSession, startSession } from './session-load.js';
import type { SessionsRun } from './sessions-metrics.js';
import { ajaxTable, globalSessionRoundsTable, globalSessionTable } from './sessions-table.js';
import { withStacks } from './stack-scope.js';
import { warmUp } from './warm-up.js';

/** Written by every run, committed with the numbers it shows. */
export const SESSIONS_CHART = new URL('./results/sessions-latency.svg', import.meta.url).pathname;

const DIRECT = '(a) php-fpm direct';
const LANES_OFF = '(b) switchyard, lanes off';
const LANES_ON = '(c) switchyard, lanes on';
const SETUPS = [DIRECT, LANES_OFF, LANES_ON] as const;

/** A client gives up on an answer after this (nginx's own fastcgi_read_timeout is 60 s). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Between two loads, so the last one's stragglers and php-fpm's bookkeeping are done. */
const PAUSE_MS = 1000;

interface Settings {
  readonly rounds: number;
  readonly seconds: number;
  readonly clients: number;
  readonly holdMs: number;
  readonly plainEveryMs: number;
  readonly ajaxRepeats: number;
  readonly ajaxHoldMs: number;
  readonly ajaxParallel: number;
  readonly ajaxOthers: number;
  readonly ajaxOthersAfterMs: number;
}

interface Setup {
  readonly name: string;
  readonly url: string;
}

/**
 * Session lanes under two session-heavy loads, with three setups measured in alternating
 * rounds: (a) nginx → one php-fpm master of 8 workers, (b) nginx → switchyard with lanes off
 * → 2 php-fpm replicas of 4, (c) the same with lanes on. PHP's session lock serialises one
 * session's requests; without lanes the waiting ones hold workers. Returns the Markdown to
 * print and writes the latency chart, or returns undefined (after a loud message) when a
 * program it needs is missing. BENCH_SESSIONS_RAW=FILE also writes every request as JSON.
 */
export async function runSessionsBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('sessions');
  if (programs === undefined) return undefined;
  const { nginx, phpFpm, cli } = programs;
  const settings: Settings = {
    rounds: positiveKnob('BENCH_SESSIONS_ROUNDS', 3),
    seconds: positiveKnob('BENCH_SESSIONS_SECONDS', 10),
    clients: positiveKnob('BENCH_SESSIONS_CLIENTS', 16),
    holdMs: positiveKnob('BENCH_SESSIONS_HOLD_MS', 200),
    plainEveryMs: 100,
    ajaxRepeats: positiveKnob('BENCH_SESSIONS_AJAX_REPEATS', 2),
    ajaxHoldMs: 1000,
    ajaxParallel: 3,
    ajaxOthers: 20,
    ajaxOthersAfterMs: 50,
  };
  const loadBefore = formatLoad();
  return withStacks(['sess-fpm', 'sess-off', 'sess-on'], async ([direct, off, on]) => {
    const setups: Setup[] = [
      { name: DIRECT, url: await startDirect(direct, nginx, phpFpm) },
      { name: LANES_OFF, url: await startSwitchyard(off, nginx, phpFpm, cli, ['per_session = 0']) },
      { name: LANES_ON, url: await startSwitchyard(on, nginx, phpFpm, cli, []) },
    ];
    for (const setup of setups)
      await warmUp(setup.url, ['/hello.php', '/session.php?hold=0'], 1000);
    const globalRuns: SessionsRun[] = [];
    const ajaxRuns: SessionsRun[] = [];
    for (let round = 1; round <= settings.rounds; round += 1) {
      // Each round starts with the next setup, so none always runs first (or last).
      const order = setups.map((_, k) => setups[(k + round - 1) % setups.length] as Setup);
      for (const setup of order) {
        progress(`round ${round}/${settings.rounds}: ${setup.name}, global session`);
        globalRuns.push({ setup: setup.name, round, ...(await globalSession(setup, settings)) });
        await delay(PAUSE_MS);
      }
      for (const setup of order) {
        for (let repeat = 0; repeat < settings.ajaxRepeats; repeat += 1) {
          progress(`round ${round}/${settings.rounds}: ${setup.name}, three AJAX`);
          ajaxRuns.push({ setup: setup.name, round, ...(await ajaxBurst(setup, settings)) });
          await delay(PAUSE_MS);
        }
      }
    }
    mkdirSync(dirname(SESSIONS_CHART), { recursive: true });
    writeFileSync(SESSIONS_CHART, chart(globalRuns, settings));
    const raw = process.env.BENCH_SESSIONS_RAW;
    if (raw !== undefined && raw !== '') {
      writeFileSync(raw, JSON.stringify({ globalRuns, ajaxRuns }));
    }
    const { rounds, seconds, clients, holdMs, plainEveryMs } = settings;
    return [
      `Load average before the run: ${loadBefore}.`,
      `Rounds: ${rounds}, setups alternated (each round starts with the next one).`,
      '',
      `### 1. Global session: ${clients} clients share one session (/session.php?hold=${holdMs}) for ${seconds} s; /hello.php every ${plainEveryMs} ms`,
      '',
      globalSessionTable(SETUPS, globalRuns),
      '',
      'Each round:',
      '',
      globalSessionRoundsTable(globalRuns),
      '',
      `### 2. Three AJAX: ${settings.ajaxParallel} parallel requests of one session (/session.php?hold=${settings.ajaxHoldMs}), ${settings.ajaxOthers} other users (/hello.php) ${settings.ajaxOthersAfterMs} ms later; ${settings.ajaxRepeats} per setup and round`,
      '',
      ajaxTable(SETUPS, ajaxRuns),
      '',
      `Chart (global session, round 1): ${relative(process.cwd(), SESSIONS_CHART)}`,
      `Load average after the run: ${formatLoad()}.`,
    ].join('\n');
  });
}

/** (a) nginx (fastcgi_keep_conn off, nginx's default) → one php-fpm master of 8 workers. */
async function startDirect(stack: DeployStack, nginx: string, phpFpm: string): Promise<string> {
  // Its session files go to its own directory (test/support/php-fpm.ts sets session.save_path).
  const master = await stack.startPhpFpm(phpFpm, 8);
  const front = await stack.startNginx(nginx, master.socket, {
    keepConn: false,
    realpathRoot: false,
  });
  return front.url;
}

/**
 * (b), (c) nginx (fastcgi_keep_conn on, as deploy/nginx/switchyard.conf) → switchyard → 2
 * php-fpm replicas of 4, with `sessions` as the `[sessions]` table. Both replicas keep their
 * session files in one directory of the stack's own, as replicas of one site must (a lock is
 * a lock only where both look): the machine's /var/lib/php/sessions stays untouched.
 */
async function startSwitchyard(
  stack: DeployStack,
  nginx: string,
  phpFpm: string,
  cli: string,
  sessions: readonly string[],
): Promise<string> {
  const saveDir = join(stack.dir, 'sessions');
  mkdirSync(saveDir);
  // As root, switchyard runs the workers as www-data: they must be able to create files here.
  chmodSync(saveDir, 0o1733);
  const pool = join(stack.dir, 'pool.conf');
  writeFileSync(pool, `php_admin_value[session.save_path] = ${saveDir}\n`);
  const daemon = await stack.startSwitchyard({
    cli,
    phpFpm,
    capacity: 4,
    releaseHeader: 'X-Served-Release',
    sessions,
    pool,
  });
  const front = await stack.startNginx(nginx, daemon.socket, {
    keepConn: true,
    realpathRoot: false,
  });
  return front.url;
}

/** A new session each time, so no run starts behind another's leftovers. */
async function globalSession(setup: Setup, settings: Settings) {
  return runGlobalSession({
    url: setup.url,
    cookie: await startSession(setup.url, REQUEST_TIMEOUT_MS),
    clients: settings.clients,
    holdMs: settings.holdMs,
    seconds: settings.seconds,
    plainEveryMs: settings.plainEveryMs,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}

async function ajaxBurst(setup: Setup, settings: Settings) {
  return runAjaxBurst({
    url: setup.url,
    cookie: await startSession(setup.url, REQUEST_TIMEOUT_MS),
    parallel: settings.ajaxParallel,
    holdMs: settings.ajaxHoldMs,
    others: settings.ajaxOthers,
    othersAfterMs: settings.ajaxOthersAfterMs,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}

function chart(runs: readonly SessionsRun[], settings: Settings): string {
  const firstRound = runs.filter((run) => run.round === 1);
  const panels: ChartPanel[] = SETUPS.flatMap((setup) =>
    firstRound
      .filter((run) => run.setup === setup)
      .map((run) => ({
        title: setup,
        points: run.records.map((record) => ({
          x: (record.sentAt - run.startedAt) / 1000,
          y: record.latencyMs,
          series: isFailure(record) ? 'failed' : record.page,
        })),
        markers: [],
      })),
  );
  const { clients, holdMs, plainEveryMs } = settings;
  return latencyChart(panels, {
    title: `${clients} clients share one PHP session (lock held ${holdMs} ms a request); hello.php every ${plainEveryMs} ms`,
    series: {
      session: { label: 'session page (one shared session)', colour: '#e08a1e' },
      plain: { label: 'no-session page (hello.php)', colour: '#2f6fd0' },
      failed: { label: 'failed (error or non-2xx)', colour: '#d62728' },
    },
    alwaysInLegend: ['session', 'plain', 'failed'],
  });
}

function progress(text: string): void {
  process.stderr.write(`sessions: ${text}\n`);
}
