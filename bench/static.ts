import { setTimeout as delay } from 'node:timers/promises';
import { STATIC_R1, STATIC_R2 } from '../test/support/static-site.js';
import { type AssetSetup, startReloadSetup, startSwitchyardSetup } from './asset-pair-setups.js';
import { type AssetRound, measureAssetRound } from './asset-pairs.js';
import { assetFailures, assetRoundsTable, assetTable } from './asset-pairs-table.js';
import type { DeployStack } from './deploy-stack.js';
import { positiveKnob } from './env-knobs.js';
import { formatLoad } from './load-average.js';
import { type PhpStackPrograms, phpStackPrograms } from './php-stack-programs.js';
import { findProgram } from './proc-stats.js';
import { withStacks } from './stack-scope.js';
import { measureStaticCost, staticCostTable } from './static-cost.js';
import { warmUp } from './warm-up.js';

const RELOAD = '(a) php-fpm reload, static from current';
const DEPLOY = '(b) switchyard deploy, static from current';
const SERVING = '(c) [static] serving release';
const COOKIE = '(d) [static] cookie';

type Start = (stack: DeployStack, programs: PhpStackPrograms) => Promise<AssetSetup>;

/** The setups by letter, in the order of the tables. */
const SETUPS: ReadonlyArray<{
  readonly key: string;
  readonly name: string;
  readonly start: Start;
}> = [
  { key: 'a', name: RELOAD, start: (stack, p) => startReloadSetup(RELOAD, stack, p) },
  {
    key: 'b',
    name: DEPLOY,
    start: (stack, p) => startSwitchyardSetup(DEPLOY, stack, p, 'symlink'),
  },
  {
    key: 'c',
    name: SERVING,
    start: (stack, p) => startSwitchyardSetup(SERVING, stack, p, 'serving'),
  },
  { key: 'd', name: COOKIE, start: (stack, p) => startSwitchyardSetup(COOKIE, stack, p, 'cookie') },
];

/** `BENCH_STATIC_SETUPS=a,b`: only those (an older build has no [static]); all unless set. */
function selectedSetups(): typeof SETUPS {
  const only = process.env.BENCH_STATIC_SETUPS;
  if (only === undefined || only === '') return SETUPS;
  const keys = only.split(',').map((key) => key.trim());
  const unknown = keys.filter((key) => !SETUPS.some((setup) => setup.key === key));
  if (unknown.length > 0) {
    throw new Error(`BENCH_STATIC_SETUPS: unknown ${unknown.join(', ')}; known: a, b, c, d`);
  }
  return SETUPS.filter((setup) => keys.includes(setup.key));
}

/** The small file of the cost measure: 71 bytes of CSS. */
const STATIC_FILE = '/style.css';

/**
 * Static files during deploys: (1) page + stylesheet clients through four setups, measured in
 * alternating rounds of deploys (how many pairs mix a page of one release with a stylesheet of
 * another); (2) what `[static]` costs per static request, with wrk, against nginx serving the
 * file itself. Returns the Markdown to print, or undefined (after a loud message) when a
 * program it needs is missing; without wrk only the second part is left out.
 */
export async function runStaticBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('static');
  if (programs === undefined) return undefined;
  const wrk = findProgram(['wrk']);
  if (wrk === undefined) {
    process.stderr.write(
      '\n*** static: SKIPPING the cost per static request: missing wrk (`apt-get install wrk`) ***\n\n',
    );
  }
  const settings = {
    rounds: positiveKnob('BENCH_STATIC_ROUNDS', 2),
    deploys: positiveKnob('BENCH_STATIC_DEPLOYS', 5),
    clients: positiveKnob('BENCH_STATIC_CLIENTS', 4),
    wrkRounds: positiveKnob('BENCH_STATIC_WRK_ROUNDS', 3),
    wrkSeconds: positiveKnob('BENCH_STATIC_WRK_SECONDS', 5),
    wrkConnections: positiveKnob('BENCH_STATIC_WRK_CONNECTIONS', 16),
  };
  const chosen = selectedSetups();
  const loadBefore = formatLoad();
  return withStacks(
    chosen.map((setup) => `static-${setup.key}`),
    async (stacks) => {
      const setups: AssetSetup[] = [];
      for (const [k, setup] of chosen.entries()) {
        setups.push(await setup.start(stacks[k] as DeployStack, programs));
      }
      for (const setup of setups) await warmUp(setup.url, ['/index.php', STATIC_FILE], 1000);
      const rounds: AssetRound[] = [];
      for (let round = 1; round <= settings.rounds; round += 1) {
        // Each round starts with the next setup, so none always runs first (or last).
        const order = setups.map((_, k) => setups[(k + round - 1) % setups.length] as AssetSetup);
        for (const setup of order) {
          progress(`round ${round}/${settings.rounds}: ${setup.name}, ${settings.deploys} deploys`);
          rounds.push(
            await measureAssetRound(setup, {
              round,
              clients: settings.clients,
              deploys: settings.deploys,
              firstDeploy: (round - 1) * settings.deploys + 1,
              pairsBetween: settings.clients * 5,
            }),
          );
          // The last deploy's drained replicas are gone before the next setup is measured.
          await delay(1000);
        }
      }
      const surgeLine = rounds.find((round) => round.setup === DEPLOY)?.deploys[0]?.surgeLine;
      const fromCurrent = setups.find((setup) => setup.name === DEPLOY);
      const redirected = setups.find((setup) => setup.name === SERVING);
      const cost =
        wrk === undefined || fromCurrent === undefined || redirected?.daemonPid === undefined
          ? undefined
          : await measureStaticCost(
              [
                {
                  name: 'nginx serves the file from `current`',
                  url: fromCurrent.url,
                  nginxPid: fromCurrent.nginxPid,
                },
                {
                  name: 'nginx → switchyard (X-Accel-Redirect) → nginx serves the file',
                  url: redirected.url,
                  nginxPid: redirected.nginxPid,
                  daemonPid: redirected.daemonPid,
                },
              ],
              {
                wrk,
                path: STATIC_FILE,
                connections: settings.wrkConnections,
                rounds: settings.wrkRounds,
                seconds: settings.wrkSeconds,
                warmUpSeconds: 2,
              },
              progress,
            );
      const names = chosen.map((setup) => setup.name);
      return [
        `Load average before the run: ${loadBefore}.`,
        '',
        `### Mismatched page/stylesheet pairs: ${settings.clients} clients, ${settings.rounds} rounds of ${settings.deploys} deploys per setup, setups alternated`,
        '',
        assetTable(names, rounds),
        '',
        ...assetFailures(names, rounds),
        ...(surgeLine === undefined
          ? []
          : [`switchyard's first deploy said: \`${surgeLine}\``, '']),
        'Each round:',
        '',
        assetRoundsTable(rounds),
        '',
        ...(cost === undefined
          ? ['(The cost per static request was not measured: it needs wrk and setups b and c.)']
          : [
              `### Cost per static request: wrk -t2 -c${settings.wrkConnections} on ${STATIC_FILE}, ${settings.wrkRounds} rounds × ${settings.wrkSeconds} s, setups alternated`,
              '',
              staticCostTable(cost),
            ]),
        '',
        `Load average after the run: ${formatLoad()}.`,
      ].join('\n');
    },
    { r1: STATIC_R1, r2: STATIC_R2 },
  );
}

function progress(text: string): void {
  process.stderr.write(`static: ${text}\n`);
}
