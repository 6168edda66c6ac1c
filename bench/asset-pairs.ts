import { type PageAssetReport, startPageAssetClients } from '../test/support/page-asset-client.js';
import { progressOf } from '../test/support/static-site.js';
import type { AssetSetup, DeployOutcome } from './asset-pair-setups.js';

/** One setup's round: its deploys and what the page + stylesheet clients met meanwhile. */
export interface AssetRound {
  readonly setup: string;
  readonly round: number;
  readonly deploys: readonly DeployOutcome[];
  readonly report: PageAssetReport;
}

export interface AssetRoundOptions {
  readonly round: number;
  readonly clients: number;
  readonly deploys: number;
  /** The first deploy's number (`d<k>`): setups count on across rounds. */
  readonly firstDeploy: number;
  /** Whole pairs to wait for (all clients together) before the first deploy and after each. */
  readonly pairsBetween: number;
}

/**
 * Browser-like clients (test/support/page-asset-client.ts: each loads the page, then the
 * stylesheet it links, in a loop) through `setup` while it deploys `deploys` times, the two
 * fixture releases in turn; each deploy waits for the one before it, and for more pairs.
 */
export async function measureAssetRound(
  setup: AssetSetup,
  options: AssetRoundOptions,
): Promise<AssetRound> {
  const clients = startPageAssetClients({ url: setup.url, clients: options.clients });
  const deploys: DeployOutcome[] = [];
  try {
    await progressOf(clients.pairs, options.pairsBetween, `${setup.name}: pairs before a deploy`);
    for (let k = options.firstDeploy; k < options.firstDeploy + options.deploys; k += 1) {
      deploys.push(await setup.deploy(k));
      await progressOf(
        clients.pairs,
        options.pairsBetween,
        `${setup.name}: pairs after deploy ${k}`,
      );
    }
  } catch (error) {
    // A failed deploy must not leave the clients looping; what they met says why.
    const report = await clients.stop();
    throw new Error(
      `${(error as Error).message}; the clients' first failures: ${report.failures.slice(0, 3).join(' | ')}`,
    );
  }
  return { setup: setup.name, round: options.round, deploys, report: await clients.stop() };
}
