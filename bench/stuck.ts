import { writeFileSync } from 'node:fs';
import { positiveKnob } from './env-knobs.js';
import { formatLoad } from './load-average.js';
import { type PhpStackPrograms, phpStackPrograms } from './php-stack-programs.js';
import { startSession } from './session-load.js';
import { withStack } from './stack-scope.js';
import { runStuckLoad } from './stuck-load.js';
import { FAST_MS, SESSION_MARGIN_MS, type StuckRun } from './stuck-metrics.js';
import {
  HANG_PATH,
  type RestartKind,
  STUCK_SETUPS,
  type StuckSetupKind,
  type StuckSetupSettings,
  startStuckSetup,
} from './stuck-setups.js';
import { stuckRoundsTable, stuckTable } from './stuck-table.js';
import { warmUp } from './warm-up.js';

/** When the hang begins, after the load's start: the seconds before it show the site as usual. */
const HOLD_AT_MS = 3000;
const PLAIN_EVERY_MS = 100;
const SESSION_EVERY_MS = 250;
/** After the last send, answers are waited for this long; what is still waiting then fails. */
const GRACE_MS = 5000;
/** (b)'s watcher asks for php-fpm's status page this often (and gives up on it after as long). */
const POLL_EVERY_MS = 1000;

interface Settings extends StuckSetupSettings {
  readonly rounds: number;
  readonly seconds: number;
  readonly setups: readonly StuckSetupKind[];
}

/**
 * "One global session hangs the site", extended: one request of a user's session runs a script
 * that takes the session lock and never lets go, while the same user's requests and a page
 * without a session keep coming. Four setups, each started afresh for each run and measured in
 * alternating rounds: (a) nginx → php-fpm, nothing watching; (b) the same with the watcher
 * operators script (restart when every child has been busy N s); (c) nginx → switchyard with
 * lanes (its defaults); (d) the same with the watchdog at stuck_after = N s. Returns the
 * Markdown, or undefined (after a loud message) when a program it needs is missing.
 * BENCH_STUCK_RAW=FILE also writes every request as JSON.
 */
export async function runStuckBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('stuck');
  if (programs === undefined) return undefined;
  const settings: Settings = {
    rounds: positiveKnob('BENCH_STUCK_ROUNDS', 2),
    seconds: positiveKnob('BENCH_STUCK_SECONDS', 30),
    stuckAfterS: positiveKnob('BENCH_STUCK_AFTER_S', 5),
    stuckWorkers: stuckWorkersKnob(),
    restart: restartKnob(),
    pollEveryMs: POLL_EVERY_MS,
    setups: setupsKnob(),
  };
  const names = setupNames(settings);
  const loadBefore = formatLoad();
  const runs: StuckRun[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Each round starts with the next setup, so none always runs first (or last).
    const order = settings.setups.map(
      (_, k) => settings.setups[(k + round - 1) % settings.setups.length] as StuckSetupKind,
    );
    for (const kind of order) {
      progress(`round ${round}/${settings.rounds}: ${names[kind]}`);
      runs.push(await oneRun(kind, names[kind], round, programs, settings));
    }
  }
  const raw = process.env.BENCH_STUCK_RAW;
  if (raw !== undefined && raw !== '') writeFileSync(raw, JSON.stringify(runs));
  const { rounds, seconds, stuckAfterS } = settings;
  const shown = settings.setups.map((kind) => names[kind]);
  return [
    `Load average before the run: ${loadBefore}.`,
    `Rounds: ${rounds}, setups alternated (each round starts with the next one); every run on a fresh stack.`,
    `Load: /hello.php every ${PLAIN_EVERY_MS} ms and /session.php?hold=0 of one user's session every ${SESSION_EVERY_MS} ms for ${seconds} s, each request on its own connection; ${HOLD_AT_MS / 1000} s in, one request of that session asks for ${HANG_PATH} (takes the session lock, never lets go). Requests still waiting ${GRACE_MS / 1000} s after the last send fail ("no answer by the end of the run"). N = ${stuckAfterS} s.`,
    `Times are seconds after the hanging request was sent. "Slow": a no-session answer over ${FAST_MS} ms, or a failure; "answered again": the first 200 to a request of the stuck user's session sent at least ${SESSION_MARGIN_MS / 1000} s after it.`,
    '',
    stuckTable(shown, runs),
    '',
    'Each round:',
    '',
    stuckRoundsTable(runs),
    '',
    `Load average after the run: ${formatLoad()}.`,
  ].join('\n');
}

async function oneRun(
  kind: StuckSetupKind,
  name: string,
  round: number,
  programs: PhpStackPrograms,
  settings: Settings,
): Promise<StuckRun> {
  return withStack(`stuck-${kind}`, async (stack) => {
    const setup = await startStuckSetup(kind, stack, programs, settings);
    await warmUp(setup.url, ['/hello.php', '/session.php?hold=0'], 200);
    const cookie = await startSession(setup.url, 10_000);
    const load = await runStuckLoad({
      url: setup.url,
      cookie,
      seconds: settings.seconds,
      holdAtMs: HOLD_AT_MS,
      holderPath: HANG_PATH,
      plainEveryMs: PLAIN_EVERY_MS,
      sessionEveryMs: SESSION_EVERY_MS,
      graceMs: GRACE_MS,
    });
    await setup.finish();
    return { setup: name, round, ...load, actions: setup.actions() };
  });
}

function setupNames(settings: Settings): Record<StuckSetupKind, string> {
  const n = `${settings.stuckAfterS} s`;
  return {
    plain: '(a) php-fpm, nothing watching',
    watcher: `(b) php-fpm, ${settings.restart === 'reload' ? 'reloaded' : 'restarted'} after all busy ${n}`,
    lanes: '(c) switchyard, lanes',
    watchdog: `(d) switchyard, lanes + watchdog ${n}`,
  };
}

/** BENCH_STUCK_WORKERS: (d)'s stuck_workers, a whole number or "all"; 1 unless told. */
function stuckWorkersKnob(): number | 'all' {
  return process.env.BENCH_STUCK_WORKERS === 'all' ? 'all' : positiveKnob('BENCH_STUCK_WORKERS', 1);
}

/** BENCH_STUCK_RESTART: what (b)'s watcher runs, `restart` (unless told) or `reload`. */
function restartKnob(): RestartKind {
  const value = process.env.BENCH_STUCK_RESTART ?? 'restart';
  if (value !== 'restart' && value !== 'reload') {
    throw new Error(`BENCH_STUCK_RESTART must be restart or reload, got ${value}`);
  }
  return value;
}

/** BENCH_STUCK_SETUPS=a,b,c,d (unless told, all four). */
function setupsKnob(): readonly StuckSetupKind[] {
  const letters = (process.env.BENCH_STUCK_SETUPS ?? 'a,b,c,d').split(',').map((s) => s.trim());
  return letters.map((letter) => {
    const kind = STUCK_SETUPS['abcd'.indexOf(letter)];
    if (letter.length !== 1 || kind === undefined) {
      throw new Error(`BENCH_STUCK_SETUPS: ${letter} is not one of a, b, c, d`);
    }
    return kind;
  });
}

function progress(text: string): void {
  process.stderr.write(`stuck: ${text}\n`);
}
