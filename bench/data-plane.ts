import { existsSync } from 'node:fs';
import { BUILT_CLI } from './daemon-process.js';
import { type Backends, Stack } from './data-plane-stack.js';
import {
  type CellResult,
  type CpuMicros,
  cpuTable,
  dataPlaneTable,
  type SetupResult,
} from './data-plane-table.js';
import { formatLoad } from './load-average.js';
import {
  cpuMicros,
  findProgram,
  machineBusyMicros,
  peakRssBytes,
  treeCpuMicros,
} from './proc-stats.js';
import { runWrk, type WrkResult } from './wrk.js';

const RELEASE = new URL('../fixtures/php/releases/r1', import.meta.url).pathname;
const PAGE = '/hello.php';

/** Seconds per measured wrk run; BENCH_ROUND_SECONDS shortens it for a quick look. */
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5);
const ROUNDS = 3;
const WARMUP_SECONDS = 2;

/** What is measured: keep_conn on at two concurrencies, off at one. */
const PHASES: ReadonlyArray<{ keepConn: boolean; connections: readonly number[] }> = [
  { keepConn: true, connections: [16, 64] },
  { keepConn: false, connections: [64] },
];

/**
 * nginx → php-fpm (8 children) against nginx → switchyard → 2 × php-fpm (4 children), with
 * wrk. Returns the Markdown to print, or undefined (after a loud message) when a program
 * it needs is missing. BENCH_CPU_PROFILE_DIR runs the daemon under `node --cpu-prof`;
 * BENCH_DAEMON_CLI measures another build's dist/cli/main.js (an A/B of a change).
 */
export async function runDataPlaneBenchmark(): Promise<string | undefined> {
  const daemonCli = process.env.BENCH_DAEMON_CLI ?? BUILT_CLI;
  const wrk = findProgram(['wrk']);
  const nginx = findProgram(['nginx']);
  const phpFpm = findProgram(['php-fpm8.2', 'php-fpm']);
  const missing = [
    ...(wrk === undefined ? ['wrk (`apt-get install wrk`)'] : []),
    ...(nginx === undefined ? ['nginx (`apt-get install nginx`)'] : []),
    ...(phpFpm === undefined ? ['php-fpm (`apt-get install php8.2-fpm`)'] : []),
    ...(existsSync(daemonCli) ? [] : [`${daemonCli} (\`npm run build\`)`]),
  ];
  // The first three repeat `missing` so that TypeScript narrows them below.
  if (wrk === undefined || nginx === undefined || phpFpm === undefined || missing.length > 0) {
    process.stderr.write(
      `\n*** SKIPPING the data-plane benchmark: missing ${missing.join(', ')} ***\n\n`,
    );
    return undefined;
  }
  const stack = new Stack({
    nginx,
    phpFpm,
    cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR,
    daemonCli,
  });
  // php-fpm masters run in their own process groups: a ^C must not leave them behind. The
  // handler stays while closing: tsx relays the signal, and a second one would kill us.
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void stack.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const load = formatLoad();
  try {
    const backends = await stack.startBackends(RELEASE);
    const cells: CellResult[] = [];
    for (const phase of PHASES) {
      cells.push(...(await runPhase(stack, backends, wrk, phase)));
    }
    return [
      `Load average before the run: ${load}.`,
      `wrk -t2, ${ROUNDS} rounds × ${ROUND_SECONDS} s per cell after ${WARMUP_SECONDS} s warm-ups, setups alternated; medians of the rounds.`,
      '',
      dataPlaneTable(cells),
      '',
      'CPU time per request by process (user + system over the measured rounds; the rest is wrk',
      'and anything else running; machine busy is of all cores together):',
      '',
      cpuTable(cells),
      '',
      `Load average after the run: ${formatLoad()}.`,
    ].join('\n');
  } finally {
    await stack.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runPhase(
  stack: Stack,
  backends: Backends,
  wrk: string,
  phase: { keepConn: boolean; connections: readonly number[] },
): Promise<CellResult[]> {
  const documentRoot = backends.symlink;
  const mode = phase.keepConn ? 'on' : 'off';
  // Below pm.max_children (8), or idle kept connections starve php-fpm (see nginx.ts).
  const direct = await stack.startNginx(`direct-${mode}`, backends.direct, {
    keepConn: phase.keepConn,
    keepalive: 7,
    documentRoot,
  });
  const switchyard = await stack.startNginx(`switchyard-${mode}`, backends.switchyard, {
    keepConn: phase.keepConn,
    keepalive: 32,
    documentRoot,
  });
  const directSetup: Setup = {
    name: 'direct',
    url: `${direct.url}${PAGE}`,
    nginx: direct.pid,
    phpFpm: [backends.directFpmPid],
  };
  const switchyardSetup: Setup = {
    name: 'switchyard',
    url: `${switchyard.url}${PAGE}`,
    nginx: switchyard.pid,
    phpFpm: backends.replicaFpmPids,
    daemon: backends.daemonPid,
  };
  const cells: CellResult[] = [];
  try {
    for (const connections of phase.connections) {
      const run = (setup: Setup, seconds: number) =>
        runWrk({ binary: wrk, url: setup.url, connections, seconds });
      await run(directSetup, WARMUP_SECONDS);
      await run(switchyardSetup, WARMUP_SECONDS);
      const results = new Map<Setup, { rounds: WrkResult[]; cpu: CpuMicros }>();
      for (const setup of [directSetup, switchyardSetup]) {
        results.set(setup, { rounds: [], cpu: zeroCpu() });
      }
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const [setup, result] of results) {
          progress(
            `keep_conn ${mode}, ${connections} connections, round ${round + 1}: ${setup.name}`,
          );
          const before = sampleCpu(setup);
          result.rounds.push(await run(setup, ROUND_SECONDS));
          addCpu(result.cpu, before, sampleCpu(setup));
        }
      }
      const switchyardResult = results.get(switchyardSetup) as SetupResult;
      cells.push({
        keepConn: phase.keepConn,
        connections,
        direct: results.get(directSetup) as SetupResult,
        switchyard: { ...switchyardResult, daemonPeakRss: peakRssBytes(backends.daemonPid) },
      });
    }
  } finally {
    await direct.stop();
    await switchyard.stop();
  }
  return cells;
}

interface Setup {
  readonly name: string;
  readonly url: string;
  readonly nginx: number;
  readonly phpFpm: readonly number[];
  readonly daemon?: number;
}

function zeroCpu(): CpuMicros {
  return { nginx: 0, phpFpm: 0, daemon: 0, machine: 0, wallMicros: 0 };
}

/** CPU used so far by the setup's nginx, php-fpm masters and children, daemon, and machine. */
function sampleCpu(setup: Setup): CpuMicros {
  return {
    nginx: treeCpuMicros(setup.nginx),
    phpFpm: setup.phpFpm.reduce((sum, pid) => sum + treeCpuMicros(pid), 0),
    daemon: setup.daemon === undefined ? 0 : cpuMicros(setup.daemon),
    machine: machineBusyMicros(),
    wallMicros: performance.now() * 1000,
  };
}

function addCpu(total: CpuMicros, before: CpuMicros, after: CpuMicros): void {
  total.nginx += after.nginx - before.nginx;
  total.phpFpm += after.phpFpm - before.phpFpm;
  total.daemon += after.daemon - before.daemon;
  total.machine += after.machine - before.machine;
  total.wallMicros += after.wallMicros - before.wallMicros;
}

function progress(text: string): void {
  process.stderr.write(`data plane: ${text}\n`);
}
