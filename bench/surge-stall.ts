import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { DeployStack, SwitchyardDaemon } from './deploy-stack.js';
import { type LoadRecord, type PacedLoadOptions, startPacedLoad } from './paced-load.js';
import type { PhpStackPrograms } from './php-stack-programs.js';
import { runSwitchyardCli } from './switchyard-cli.js';

export type Operation = 'deploy' | 'restart';

/** One operation under the busy load, and every request of that load. */
export interface StallRun {
  readonly setup: string;
  readonly round: number;
  readonly operation: Operation;
  readonly records: readonly LoadRecord[];
  /** performance.now() when the load started, when the command started and when it exited. */
  readonly loadStart: number;
  readonly t0: number;
  readonly doneAt: number;
  /** The command's first line: `surge: yes (…)` or `surge: no (…): …`. */
  readonly firstLine: string;
}

/** switchyard with its `surge` setting, behind nginx, and what to run on it. */
export interface SurgeSetup {
  readonly name: string;
  readonly url: string;
  readonly daemon: SwitchyardDaemon;
  readonly stack: DeployStack;
  /** Deploys so far: the next goes to r2 if even, r1 if odd. */
  deploys: number;
}

export interface SurgeSettings {
  readonly programs: PhpStackPrograms;
  /** Workers per replica; DeployStack runs 2 replicas. */
  readonly capacity: number;
  /** How long each new replica's warm-up takes (`[deploy] warmup`), as an app filling caches. */
  readonly warmUpMs: number;
  /** Load before the command, and after it exited. */
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly load: Omit<PacedLoadOptions, 'url'>;
}

/**
 * nginx → switchyard (`surge` as told) → 2 php-fpm replicas of `capacity`, each new
 * replica warmed up on a page that takes `warmUpMs` before it takes traffic.
 */
export async function startSurgeSetup(
  name: string,
  stack: DeployStack,
  surge: boolean,
  settings: SurgeSettings,
): Promise<SurgeSetup> {
  const daemon = await stack.startSwitchyard({
    cli: settings.programs.cli,
    phpFpm: settings.programs.phpFpm,
    capacity: settings.capacity,
    releaseHeader: 'X-Served-Release',
    replicasExtra: [`surge = ${surge}`],
    warmup: [`/wait.php?ms=${settings.warmUpMs}`],
  });
  const front = await stack.startNginx(settings.programs.nginx, daemon.socket, {
    keepConn: true,
    realpathRoot: false,
  });
  return { name, url: front.url, daemon, stack, deploys: 0 };
}

/**
 * The load (every worker busy) for `beforeMs`, then `switchyard deploy` (to the other
 * release) or `switchyard restart`, then `afterMs` more; the load's records.
 */
export async function measureStall(
  setup: SurgeSetup,
  operation: Operation,
  round: number,
  settings: SurgeSettings,
): Promise<StallRun> {
  const load = startPacedLoad({ ...settings.load, url: setup.url });
  // Stopped before nginx should this run fail half way (stopping twice is harmless).
  setup.stack.defer(() => load.stop());
  await delay(settings.beforeMs);
  const target = setup.deploys % 2 === 0 ? setup.stack.releases.r2 : setup.stack.releases.r1;
  const args = operation === 'deploy' ? ['deploy', target] : ['restart'];
  const t0 = performance.now();
  const result = await runSwitchyardCli(settings.programs.cli, args, setup.daemon.config);
  const doneAt = performance.now();
  if (result.code !== 0) {
    await load.stop();
    throw new Error(
      `${setup.name}: switchyard ${args.join(' ')} exited ${result.code}:\n${result.output}`,
    );
  }
  if (operation === 'deploy') setup.deploys += 1;
  await delay(settings.afterMs);
  const records = await load.stop();
  return {
    setup: setup.name,
    round,
    operation,
    records,
    loadStart: load.startedAt,
    t0,
    doneAt,
    firstLine: result.output.split('\n')[0] ?? '',
  };
}
