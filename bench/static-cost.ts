import { PageClient } from '../test/support/page-asset-client.js';
import { formatRate } from './measure.js';
import { median } from './median.js';
import { cpuMicros, machineBusyMicros, treeCpuMicros } from './proc-stats.js';
import { runWrk, type WrkResult } from './wrk.js';

/** A web server that answers the static file, and the processes whose CPU is counted. */
export interface StaticCostSetup {
  readonly name: string;
  readonly url: string;
  readonly nginxPid: number;
  /** The daemon, where the request passes through it. */
  readonly daemonPid?: number;
}

export interface StaticCostOptions {
  readonly wrk: string;
  readonly path: string;
  readonly connections: number;
  readonly rounds: number;
  readonly seconds: number;
  readonly warmUpSeconds: number;
}

interface CpuSample {
  readonly nginx: number;
  readonly daemon: number;
  readonly machine: number;
}

export interface StaticCostResult {
  readonly setup: StaticCostSetup;
  readonly rounds: WrkResult[];
  /** CPU microseconds over the measured rounds. */
  readonly cpu: { nginx: number; daemon: number; machine: number };
}

function sample(setup: StaticCostSetup): CpuSample {
  return {
    nginx: treeCpuMicros(setup.nginxPid),
    daemon: setup.daemonPid === undefined ? 0 : cpuMicros(setup.daemonPid),
    machine: machineBusyMicros(),
  };
}

/**
 * wrk on one small file through each setup, the setups alternating round by round after a
 * warm-up of each, with the CPU nginx, the daemon and the whole machine used meanwhile.
 */
export async function measureStaticCost(
  setups: readonly StaticCostSetup[],
  options: StaticCostOptions,
  progress: (text: string) => void,
): Promise<StaticCostResult[]> {
  for (const setup of setups) {
    // Each must answer the file, not an error page wrk would count as fast answers.
    const client = new PageClient(setup.url);
    const answer = await client.get(options.path);
    client.close();
    if (answer.status !== 200 || answer.release === null) {
      throw new Error(
        `${setup.name}: ${options.path} answered ${answer.status} ${answer.error ?? answer.body}`,
      );
    }
  }
  const wrkOn = (setup: StaticCostSetup, seconds: number) =>
    runWrk({
      binary: options.wrk,
      url: `${setup.url}${options.path}`,
      connections: options.connections,
      seconds,
    });
  for (const setup of setups) await wrkOn(setup, options.warmUpSeconds);
  const results: StaticCostResult[] = setups.map((setup) => ({
    setup,
    rounds: [],
    cpu: { nginx: 0, daemon: 0, machine: 0 },
  }));
  for (let round = 1; round <= options.rounds; round += 1) {
    // Each round starts with the next setup, so none always runs first.
    const order = results.map(
      (_, k) => results[(k + round - 1) % results.length] as StaticCostResult,
    );
    for (const result of order) {
      progress(`static file cost, round ${round}/${options.rounds}: ${result.setup.name}`);
      const before = sample(result.setup);
      result.rounds.push(await wrkOn(result.setup, options.seconds));
      const after = sample(result.setup);
      result.cpu.nginx += after.nginx - before.nginx;
      result.cpu.daemon += after.daemon - before.daemon;
      result.cpu.machine += after.machine - before.machine;
    }
  }
  return results;
}

const micros = (total: number, requests: number) =>
  requests === 0 ? '–' : `${(total / requests).toFixed(0)} µs`;

/** One row per setup: medians of the rounds, CPU per request over all of them. */
export function staticCostTable(results: readonly StaticCostResult[]): string {
  const rows = results.map(({ setup, rounds, cpu }) => {
    const requests = rounds.reduce((sum, round) => sum + round.requests, 0);
    const errors = rounds.reduce((sum, round) => sum + round.non2xx + round.socketErrors, 0);
    const rates = rounds.map((round) => formatRate(round.requestsPerSecond)).join(', ');
    return `| ${setup.name} | ${formatRate(median(rounds.map((r) => r.requestsPerSecond)))} | ${rates} | ${median(rounds.map((r) => r.p50Ms)).toFixed(2)} ms | ${median(rounds.map((r) => r.p99Ms)).toFixed(2)} ms | ${errors} | ${micros(cpu.nginx, requests)} | ${setup.daemonPid === undefined ? '–' : micros(cpu.daemon, requests)} | ${micros(cpu.machine, requests)} |`;
  });
  return [
    '| setup | req/s (median) | req/s of each round | p50 | p99 | non-2xx + socket errors | nginx CPU/req | daemon CPU/req | machine CPU/req |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}
