import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type DeployRun, deployTable, isFailure } from './deploy-metrics.js';
import { type ChartPanel, latencyChart } from './latency-chart.js';
import { formatLoad } from './load-average.js';
import { type LoadRecord, type PacedLoadOptions, startPacedLoad } from './paced-load.js';
import { phpStackPrograms } from './php-stack-programs.js';
import { childPids } from './proc-stats.js';
import { withStack } from './stack-scope.js';
import { runSwitchyardCli } from './switchyard-cli.js';
import { warmUp } from './warm-up.js';

const run = promisify(execFile);

/** Written by every run, committed with the numbers it shows. */
export const DEPLOY_CHART = new URL('./results/deploy-latency.svg', import.meta.url).pathname;

const RELEASE_HEADER = 'X-Served-Release';
/** Every page the load asks for, so opcache is warm before it. */
const WARM_UP_PAGES = ['/index.php', '/sleep.php?ms=0', '/wait.php?ms=0'];

/** `BENCH_DEPLOY_SECONDS=8,15`: load before and after t0. */
function seconds(): { before: number; after: number } {
  const [before, after] = (process.env.BENCH_DEPLOY_SECONDS ?? '8,15').split(',').map(Number);
  if (!(Number(before) > 0 && Number(after) > 0)) {
    throw new Error('BENCH_DEPLOY_SECONDS must be two positive numbers: before,after (e.g. 8,15)');
  }
  return { before: Number(before), after: Number(after) };
}

interface Settings {
  readonly nginx: string;
  readonly phpFpm: string;
  readonly cli: string;
  readonly before: number;
  readonly after: number;
  readonly load: Omit<PacedLoadOptions, 'url'>;
}

/**
 * Deploy under load: the same paced load through nginx while the release changes from r1 to
 * r2, (a) straight to one php-fpm master by `ln -sfn` and SIGUSR2 (what `systemctl reload
 * php-fpm` does), (b) through switchyard by `switchyard deploy`. Returns the Markdown to
 * print and writes the latency chart, or returns undefined (after a loud message) when a
 * program it needs is missing. BENCH_DEPLOY_RAW=FILE also writes every request as JSON.
 */
export async function runDeployBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('deploy');
  if (programs === undefined) return undefined;
  const { nginx, phpFpm, cli } = programs;
  const settings: Settings = {
    nginx,
    phpFpm,
    cli,
    ...seconds(),
    load: {
      connections: Number(process.env.BENCH_DEPLOY_CONNECTIONS ?? 16),
      ratePerSecond: Number(process.env.BENCH_DEPLOY_RATE ?? 100),
      slowEvery: Number(process.env.BENCH_DEPLOY_SLOW_EVERY ?? 50),
      slowPage: process.env.BENCH_DEPLOY_SLOW_PAGE ?? '/wait.php',
      slowMs: 1000,
      requestTimeoutMs: 30_000,
      releaseHeader: RELEASE_HEADER,
    },
  };
  const loadBefore = formatLoad();
  const runs = [await phpFpmReload(settings), await switchyardDeploy(settings)];
  mkdirSync(dirname(DEPLOY_CHART), { recursive: true });
  writeFileSync(DEPLOY_CHART, chart(runs, settings));
  const raw = process.env.BENCH_DEPLOY_RAW;
  if (raw !== undefined && raw !== '') writeFileSync(raw, JSON.stringify(runs));
  const { connections, ratePerSecond, slowEvery, slowPage, slowMs } = settings.load;
  return [
    `Load average before the run: ${loadBefore}.`,
    `Load: ${connections} keep-alive connections through nginx, ${ratePerSecond} req/s in all; every ${slowEvery}th request is ${slowPage}?ms=${slowMs}, the rest /index.php; ${settings.before} s before t0 and ${settings.after} s after it.`,
    '',
    deployTable(runs),
    '',
    `Chart: ${relative(process.cwd(), DEPLOY_CHART)}`,
    `Load average after the run: ${formatLoad()}.`,
  ].join('\n');
}

/** (a) nginx ($realpath_root, fastcgi_keep_conn off) → one php-fpm master, 8 workers. */
async function phpFpmReload(settings: Settings): Promise<DeployRun> {
  return withStack('deploy-fpm', async (stack) => {
    const master = await stack.startPhpFpm(settings.phpFpm, 8);
    const front = await stack.startNginx(settings.nginx, master.socket, {
      keepConn: false,
      realpathRoot: true,
    });
    await warmUp(front.url, WARM_UP_PAGES, 3000);
    progress('php-fpm: load running, reload follows');
    const load = startPacedLoad({ ...settings.load, url: front.url });
    // Stopped before nginx should this run fail half way (stopping twice is harmless).
    stack.defer(() => load.stop());
    await delay(settings.before * 1000);
    const oldWorkers = new Set(childPids(master.pid));
    const t0 = performance.now();
    await run('ln', ['-sfn', stack.releases.r2, stack.symlink]);
    process.kill(master.pid, 'SIGUSR2');
    await delay(t0 + settings.after * 1000 - performance.now());
    const records = await load.stop();
    // Done when the reloaded master answered: the first answer from a worker that is new.
    const fromNew = records.filter(
      (record) =>
        record.sentAt >= t0 &&
        !isFailure(record) &&
        record.pid !== null &&
        !oldWorkers.has(record.pid),
    );
    const switchEnd = Math.min(...fromNew.map((record) => record.sentAt + record.latencyMs));
    if (!Number.isFinite(switchEnd)) throw new Error('no answer from a reloaded php-fpm worker');
    return {
      name: 'php-fpm reload',
      records,
      loadStart: load.startedAt,
      t0,
      switchEnd,
      oldRelease: 'r1',
      newRelease: 'r2',
      checkHeader: false,
    };
  });
}

/** (b) nginx ($document_root, fastcgi_keep_conn on) → switchyard → 2 php-fpm replicas of 4. */
async function switchyardDeploy(settings: Settings): Promise<DeployRun> {
  return withStack('deploy-sy', async (stack) => {
    const daemon = await stack.startSwitchyard({
      cli: settings.cli,
      phpFpm: settings.phpFpm,
      capacity: 4,
      releaseHeader: RELEASE_HEADER,
    });
    const front = await stack.startNginx(settings.nginx, daemon.socket, {
      keepConn: true,
      realpathRoot: false,
    });
    await warmUp(front.url, WARM_UP_PAGES, 3000);
    progress('switchyard: load running, deploy follows');
    const load = startPacedLoad({ ...settings.load, url: front.url });
    // Stopped before nginx should this run fail half way (stopping twice is harmless).
    stack.defer(() => load.stop());
    await delay(settings.before * 1000);
    const t0 = performance.now();
    const deploy = await runSwitchyardCli(
      settings.cli,
      ['deploy', stack.releases.r2],
      daemon.config,
    );
    const switchEnd = performance.now();
    if (deploy.code !== 0) {
      throw new Error(`switchyard deploy exited ${deploy.code}:\n${deploy.output}`);
    }
    progress(`switchyard: ${deploy.output.trim().split('\n').at(-1)}`);
    await delay(Math.max(t0 + settings.after * 1000, switchEnd + 2000) - performance.now());
    const records = await load.stop();
    return {
      name: 'switchyard deploy',
      records,
      loadStart: load.startedAt,
      t0,
      switchEnd,
      ...(deploy.cutOver === undefined ? {} : { cutOver: deploy.cutOver }),
      ...reportedDuration(deploy.output),
      oldRelease: 'r1',
      newRelease: 'r2',
      checkHeader: true,
    };
  });
}

/** The daemon's own figure (tenths of a second) from the last line, `deployed <dir> in 1.4s`. */
function reportedDuration(output: string): { reportedMs?: number } {
  const match = /deployed .* in ([\d.]+)s$/.exec(output.trim());
  return match === null ? {} : { reportedMs: Number(match[1]) * 1000 };
}

function chart(runs: readonly DeployRun[], settings: Settings): string {
  const titles: Record<string, string> = {
    'php-fpm reload':
      '(a) nginx → one php-fpm master (8 workers): ln -sfn, then SIGUSR2 (graceful reload)',
    'switchyard deploy':
      '(b) nginx → switchyard → 2 php-fpm replicas (4 + 4 workers): switchyard deploy',
  };
  const panels: ChartPanel[] = runs.map((deployRun) => {
    const at = (time: number) => (time - deployRun.loadStart) / 1000;
    const isPhpFpm = deployRun.name === 'php-fpm reload';
    return {
      title: titles[deployRun.name] ?? deployRun.name,
      points: deployRun.records.map((record: LoadRecord) => ({
        x: at(record.sentAt),
        y: record.latencyMs,
        series: isFailure(record) ? 'failed' : (record.release ?? 'other'),
      })),
      markers: [
        {
          x: at(deployRun.t0),
          label: isPhpFpm ? 't0: ln -sfn + SIGUSR2' : 't0: deploy',
          colour: '#000',
        },
        ...(deployRun.cutOver === undefined
          ? []
          : [{ x: at(deployRun.cutOver), label: 'cut-over', colour: '#8e44ad' }]),
        {
          x: at(deployRun.switchEnd),
          label: isPhpFpm ? 'first answer of the reloaded master' : 'deploy done',
          colour: '#d35400',
        },
      ],
    };
  });
  const { ratePerSecond, connections, slowEvery, slowMs } = settings.load;
  return latencyChart(panels, {
    title: `Deploy r1 → r2 under load: ${ratePerSecond} req/s over ${connections} connections, 1 in ${slowEvery} sleeps ${slowMs} ms`,
    series: {
      r1: { label: 'answered by r1', colour: '#2f6fd0' },
      r2: { label: 'answered by r2', colour: '#2a9d4b' },
      other: { label: 'answered, release unknown', colour: '#888' },
      failed: { label: 'failed (error or non-2xx)', colour: '#d62728' },
    },
    alwaysInLegend: ['r1', 'r2', 'failed'],
  });
}

function progress(text: string): void {
  process.stderr.write(`deploy: ${text}\n`);
}
