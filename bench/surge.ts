import { positiveKnob } from './env-knobs.js';
import { formatLoad } from './load-average.js';
import { phpStackPrograms } from './php-stack-programs.js';
import { withStacks } from './stack-scope.js';
import {
  measureStall,
  type Operation,
  type StallRun,
  type SurgeSettings,
  type SurgeSetup,
  startSurgeSetup,
} from './surge-stall.js';
import { surgeDecisions, surgeTable } from './surge-table.js';
import { warmUp } from './warm-up.js';

const WITHOUT = 'surge = false';
const WITH = 'surge = true';
const OPERATIONS: readonly Operation[] = ['deploy', 'restart'];

/**
 * Capacity during a switch: under a load that keeps every worker busy (as many connections as
 * workers, most requests a 1 s page), how much longer than its own sleep a request waits
 * while a deploy or a restart runs, with `surge = false` (half the replicas switch at a time)
 * and `surge = true` (a new set starts beside the old), in alternating rounds. Each new
 * replica takes a warm-up before it serves, as an application filling its caches does:
 * without one php-fpm starts in ~100 ms and neither mode stalls. Returns the Markdown to
 * print, or undefined (after a loud message) when a program it needs is missing.
 */
export async function runSurgeBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('surge');
  if (programs === undefined) return undefined;
  const capacity = 4;
  const workers = 2 * capacity;
  const rounds = positiveKnob('BENCH_SURGE_ROUNDS', 3);
  const settings: SurgeSettings = {
    programs,
    capacity,
    warmUpMs: positiveKnob('BENCH_SURGE_WARMUP_MS', 1500),
    beforeMs: 3000,
    afterMs: 2000,
    load: {
      connections: workers,
      // Far above what 8 workers answer: each connection sends its next request at once.
      ratePerSecond: 1000,
      slowEvery: 1,
      fastEvery: positiveKnob('BENCH_SURGE_FAST_EVERY', 5),
      slowPage: '/wait.php',
      slowMs: 1000,
      requestTimeoutMs: 30_000,
      releaseHeader: 'X-Served-Release',
    },
  };
  const loadBefore = formatLoad();
  return withStacks(['surge-off', 'surge-on'], async ([off, on]) => {
    const setups: SurgeSetup[] = [
      await startSurgeSetup(WITHOUT, off, false, settings),
      await startSurgeSetup(WITH, on, true, settings),
    ];
    for (const setup of setups) await warmUp(setup.url, ['/index.php', '/wait.php?ms=0'], 1000);
    const runs: StallRun[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      for (const operation of OPERATIONS) {
        // Each round starts with the next setup, so none always runs first.
        const order = setups.map((_, k) => setups[(k + round - 1) % setups.length] as SurgeSetup);
        for (const setup of order) {
          progress(`round ${round}/${rounds}: ${setup.name}, ${operation}`);
          runs.push(await measureStall(setup, operation, round, settings));
        }
      }
    }
    const { connections, fastEvery } = settings.load;
    return [
      `Load average before the run: ${loadBefore}.`,
      `Setups: nginx → switchyard → 2 php-fpm replicas of ${capacity} workers, \`[deploy] warmup = ["/wait.php?ms=${settings.warmUpMs}"]\`; ${rounds} rounds, setups alternated.`,
      `Load: ${connections} keep-alive connections (one per worker), each sending its next request as soon as the last is answered; every ${fastEvery}th is /index.php, the rest /wait.php?ms=1000. ${settings.beforeMs / 1000} s of load, the command, ${settings.afterMs / 1000} s more. Stall = latency − the page's own sleep; "while it ran" = requests sent between the command's start and its exit.`,
      '',
      surgeTable([WITHOUT, WITH], OPERATIONS, runs),
      '',
      'What the daemon said it chose:',
      '',
      ...surgeDecisions(runs),
      '',
      `Load average after the run: ${formatLoad()}.`,
    ].join('\n');
  });
}

function progress(text: string): void {
  process.stderr.write(`surge: ${text}\n`);
}
