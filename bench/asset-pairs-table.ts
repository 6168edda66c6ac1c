import type { PagePair } from '../test/support/page-asset-client.js';
import type { AssetRound } from './asset-pairs.js';
import { formatMs } from './format-ms.js';
import { median } from './median.js';

/** One setup's rounds added up. */
export interface AssetMetrics {
  readonly deploys: number;
  readonly pairs: number;
  readonly mismatched: number;
  /** The page of the release being replaced, its stylesheet of the new one: straddles a switch. */
  readonly oldPageNewAsset: number;
  /** The new release's page with the old release's stylesheet: a page shown with stale assets. */
  readonly newPageOldAsset: number;
  /** Mismatched pairs kept for the split above (the client keeps its first 1000 per round). */
  readonly classified: number;
  /** The most mismatched pairs one client had around one deploy. */
  readonly mostPerClientDeploy: number;
  readonly failures: number;
  readonly firstFailure: string | null;
  readonly deployMedianMs: number;
  readonly deployMaxMs: number;
}

/** The deploy a pair met: the last one started before its stylesheet's answer ended; -1 for none. */
function deployOf(round: AssetRound, pair: PagePair): number {
  let found = -1;
  round.deploys.forEach((deploy, index) => {
    if (deploy.startedAt <= pair.endedAt) found = index;
  });
  return found;
}

export function assetMetrics(rounds: readonly AssetRound[]): AssetMetrics {
  let oldPageNewAsset = 0;
  let newPageOldAsset = 0;
  let classified = 0;
  let mostPerClientDeploy = 0;
  for (const round of rounds) {
    const perClientDeploy = new Map<string, number>();
    for (const pair of round.report.mismatched) {
      classified += 1;
      const index = deployOf(round, pair);
      const target = round.deploys[index]?.target;
      if (pair.asset === target) oldPageNewAsset += 1;
      else if (pair.page === target) newPageOldAsset += 1;
      const key = `${pair.client}:${index}`;
      const count = (perClientDeploy.get(key) ?? 0) + 1;
      perClientDeploy.set(key, count);
      mostPerClientDeploy = Math.max(mostPerClientDeploy, count);
    }
  }
  const durations = rounds.flatMap((round) =>
    round.deploys.map((deploy) => deploy.doneAt - deploy.startedAt),
  );
  const failures = rounds.flatMap((round) => round.report.failures);
  return {
    deploys: rounds.reduce((sum, round) => sum + round.deploys.length, 0),
    pairs: rounds.reduce((sum, round) => sum + round.report.pairs, 0),
    mismatched: rounds.reduce((sum, round) => sum + mismatchedOf(round), 0),
    oldPageNewAsset,
    newPageOldAsset,
    classified,
    mostPerClientDeploy,
    failures: failures.length,
    firstFailure: failures[0] ?? null,
    deployMedianMs: median(durations),
    deployMaxMs: Math.max(0, ...durations),
  };
}

const mismatchedOf = (round: AssetRound) =>
  round.report.mismatchedPerClient.reduce((sum, count) => sum + count, 0);

const perDeploy = (count: number, deploys: number) =>
  deploys === 0 ? '–' : (count / deploys).toFixed(2);

/** One row per setup, its rounds added up. */
export function assetTable(setups: readonly string[], rounds: readonly AssetRound[]): string {
  const rows = setups.map((setup) => {
    const m = assetMetrics(rounds.filter((round) => round.setup === setup));
    const split =
      m.classified === m.mismatched
        ? `${m.oldPageNewAsset} / ${m.newPageOldAsset}`
        : `${m.oldPageNewAsset} / ${m.newPageOldAsset} (of the first ${m.classified})`;
    return `| ${setup} | ${m.deploys} | ${m.pairs} | ${m.mismatched} | ${perDeploy(m.mismatched, m.deploys)} | ${split} | ${m.mostPerClientDeploy} | ${m.failures} | ${formatMs(m.deployMedianMs)} / ${formatMs(m.deployMaxMs)} |`;
  });
  return [
    '| setup | deploys | pairs | mismatched pairs | mismatched per deploy | old page + new stylesheet / new page + old stylesheet | most for one client at one deploy | failures | deploy time, median / max |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** Every round, in the order they ran. */
export function assetRoundsTable(rounds: readonly AssetRound[]): string {
  const rows = rounds.map((round) => {
    const m = assetMetrics([round]);
    return `| ${round.round} | ${round.setup} | ${m.deploys} | ${m.pairs} | ${m.mismatched} | ${m.failures} |`;
  });
  return [
    '| round | setup | deploys | pairs | mismatched pairs | failures |',
    '| ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** The first failure of each setup that had one, to say what failed. */
export function assetFailures(setups: readonly string[], rounds: readonly AssetRound[]): string[] {
  return setups.flatMap((setup) => {
    const m = assetMetrics(rounds.filter((round) => round.setup === setup));
    return m.firstFailure === null ? [] : [`- ${setup}, first failure: ${m.firstFailure}`];
  });
}
