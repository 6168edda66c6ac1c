import { cpus } from 'node:os';
import { formatRate } from './measure.js';
import { median } from './median.js';
import type { WrkResult } from './wrk.js';

/** CPU time (user + system) over the measured rounds, by process kind. */
export interface CpuMicros {
  nginx: number;
  phpFpm: number;
  daemon: number;
  /** The whole machine's busy time, all cores. */
  machine: number;
  /** Wall-clock time the rounds took. */
  wallMicros: number;
}

export interface SetupResult {
  readonly rounds: readonly WrkResult[];
  readonly cpu: CpuMicros;
  /** Switchyard only. */
  readonly daemonPeakRss?: number;
}

/** One keep_conn setting and concurrency, both setups measured alternately. */
export interface CellResult {
  readonly keepConn: boolean;
  readonly connections: number;
  readonly direct: SetupResult;
  readonly switchyard: SetupResult;
}

function summary(setup: SetupResult) {
  const rounds = setup.rounds;
  return {
    rate: median(rounds.map((r) => r.requestsPerSecond)),
    p50: median(rounds.map((r) => r.p50Ms)),
    p99: median(rounds.map((r) => r.p99Ms)),
    requests: rounds.reduce((sum, r) => sum + r.requests, 0),
    non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
    socketErrors: rounds.reduce((sum, r) => sum + r.socketErrors, 0),
    timeouts: rounds.reduce((sum, r) => sum + r.timeouts, 0),
  };
}

/** `3`, or `3 (2 timeouts)` when some of them were wrk giving up on an answer. */
function socketErrors(setup: { socketErrors: number; timeouts: number }): string {
  if (setup.timeouts === 0) return String(setup.socketErrors);
  return `${setup.socketErrors} (${setup.timeouts} timeouts)`;
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

/** The data-plane results as one Markdown table, then the rates of every round. */
export function dataPlaneTable(cells: readonly CellResult[]): string {
  const lines = [
    '| keep_conn | conns | direct req/s | switchyard req/s | ratio | direct p50 | switchyard p50 | direct p99 | switchyard p99 | p99 added | daemon CPU/req | daemon peak RSS | non-2xx d / s | socket errors d / s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const rounds: string[] = [];
  for (const cell of cells) {
    const direct = summary(cell.direct);
    const switchyard = summary(cell.switchyard);
    const cpu = cell.switchyard.cpu.daemon / switchyard.requests;
    const rss = (cell.switchyard.daemonPeakRss ?? 0) / 1024 ** 2;
    const added = switchyard.p99 - direct.p99;
    lines.push(
      [
        '',
        cell.keepConn ? 'on' : 'off',
        cell.connections,
        formatRate(direct.rate),
        formatRate(switchyard.rate),
        `${((100 * switchyard.rate) / direct.rate).toFixed(1)} %`,
        ms(direct.p50),
        ms(switchyard.p50),
        ms(direct.p99),
        ms(switchyard.p99),
        `${added >= 0 ? '+' : ''}${ms(added)}`,
        `${cpu.toFixed(0)} µs`,
        `${rss.toFixed(0)} MiB`,
        `${direct.non2xx} / ${switchyard.non2xx}`,
        `${socketErrors(direct)} / ${socketErrors(switchyard)}`,
        '',
      ]
        .join(' | ')
        .trim(),
    );
    const rates = (setup: SetupResult) =>
      setup.rounds.map((r) => formatRate(r.requestsPerSecond)).join(', ');
    rounds.push(
      `- keep_conn ${cell.keepConn ? 'on' : 'off'}, ${cell.connections} conns: direct ${rates(cell.direct)}; switchyard ${rates(cell.switchyard)}`,
    );
  }
  return [...lines, '', 'Requests/s of each round:', '', ...rounds].join('\n');
}

/**
 * Per request: nginx (master and worker), php-fpm (masters and children), the daemon, the
 * rest of the machine (wrk, other processes), the machine in all; then how busy it was.
 */
export function cpuTable(cells: readonly CellResult[]): string {
  const lines = [
    '| keep_conn | conns | setup | nginx | php-fpm | daemon | rest | machine | machine busy |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const us = (value: number) => `${value.toFixed(0)} µs`;
  for (const cell of cells) {
    for (const [name, setup] of [
      ['direct', cell.direct],
      ['switchyard', cell.switchyard],
    ] as const) {
      const requests = summary(setup).requests;
      const { nginx, phpFpm, daemon, machine, wallMicros } = setup.cpu;
      const rest = machine - nginx - phpFpm - daemon;
      const busy = (100 * machine) / (wallMicros * cpus().length);
      lines.push(
        `| ${cell.keepConn ? 'on' : 'off'} | ${cell.connections} | ${name} | ${us(nginx / requests)} | ${us(phpFpm / requests)} | ${name === 'direct' ? '–' : us(daemon / requests)} | ${us(rest / requests)} | ${us(machine / requests)} | ${busy.toFixed(0)} % |`,
      );
    }
  }
  return lines.join('\n');
}
