import { performance } from 'node:perf_hooks';
import { ControlClient } from '../src/control/control-client.js';
import type { DaemonStatus } from '../src/control/messages.js';
import { waitFor } from '../test/support/wait-for.js';
import { runSwitchyardCli } from './switchyard-cli.js';

export const CHAOS_KINDS = ['deploy', 'restart', 'kill'] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];

/** One operation done to the daemon during the soak, and how it went. */
export interface ChaosOp {
  readonly kind: ChaosKind;
  /** Seconds after the first operation was due. */
  readonly atSeconds: number;
  /** From the command (or the kill) until every replica was ready again. */
  readonly durationMs: number;
  readonly ok: boolean;
  /** The command's last line, or what went wrong. */
  readonly detail: string;
}

export interface ChaosOptions {
  readonly cli: string;
  readonly config: string;
  readonly control: string;
  /** Deployed in turn, the second first (the daemon starts on the first). */
  readonly releases: readonly [string, string];
  /**
   * Resolves when operation `index` (of `total`) is due: true to run it, false when the run
   * is over and the rest are skipped.
   */
  readonly due: (index: number, total: number) => Promise<boolean>;
  readonly progress: (text: string) => void;
}

/** Replicas back from a kill or a restart within this, or the operation failed. */
const READY_TIMEOUT_MS = 90_000;

/** `counts` of each kind, interleaved so each kind is spread evenly over the run. */
export function chaosPlan(counts: Readonly<Record<ChaosKind, number>>): ChaosKind[] {
  const slots = CHAOS_KINDS.flatMap((kind) =>
    Array.from({ length: counts[kind] }, (_, i) => ({ kind, at: (i + 0.5) / counts[kind] })),
  );
  return slots.sort((a, b) => a.at - b.at).map((slot) => slot.kind);
}

/**
 * Runs the plan one operation at a time, each when `due` says, as an operator would:
 * `switchyard deploy <dir>` alternating two releases, `switchyard restart`, and SIGKILL of a
 * replica's php-fpm master (its pid from `switchyard status --json`). Each waits until every
 * replica is ready again before the next, so operations never overlap and none is refused as
 * busy. Never throws: a failed operation is recorded and the run goes on.
 */
export async function runChaos(
  plan: readonly ChaosKind[],
  options: ChaosOptions,
): Promise<ChaosOp[]> {
  const client = new ControlClient(options.control);
  const ops: ChaosOp[] = [];
  const started = performance.now();
  let deploys = 0;
  let kills = 0;
  for (const [index, kind] of plan.entries()) {
    if (!(await options.due(index, plan.length))) break;
    const at = performance.now();
    let outcome: { ok: boolean; detail: string };
    try {
      if (kind === 'deploy') {
        deploys += 1;
        outcome = await command(options, ['deploy', options.releases[deploys % 2] as string]);
      } else if (kind === 'restart') {
        outcome = await command(options, ['restart']);
      } else {
        kills += 1;
        outcome = await killReplica(options, client, kills);
      }
      await allReady(client);
    } catch (error) {
      outcome = { ok: false, detail: (error as Error).message };
    }
    const op = {
      kind,
      atSeconds: (at - started) / 1000,
      durationMs: performance.now() - at,
      ...outcome,
    };
    ops.push(op);
    options.progress(
      `${index + 1}/${plan.length} ${kind} ${op.ok ? 'ok' : 'FAILED'} in ${(op.durationMs / 1000).toFixed(1)} s: ${op.detail}`,
    );
  }
  return ops;
}

async function command(
  options: ChaosOptions,
  args: readonly string[],
): Promise<{ ok: boolean; detail: string }> {
  const run = await runSwitchyardCli(options.cli, args, options.config);
  const last = run.output.trim().split('\n').at(-1) ?? '';
  return { ok: run.code === 0, detail: run.code === 0 ? last : `exit ${run.code}: ${run.output}` };
}

/** SIGKILL to a ready replica's master (taking turns), then until a new one serves in its slot. */
async function killReplica(
  options: ChaosOptions,
  client: ControlClient,
  n: number,
): Promise<{ ok: boolean; detail: string }> {
  const run = await runSwitchyardCli(options.cli, ['status', '--json'], options.config);
  if (run.code !== 0) return { ok: false, detail: `status exit ${run.code}: ${run.output}` };
  const status = JSON.parse(run.output) as DaemonStatus;
  const ready = status.replicas.filter((replica) => replica.state === 'ready' && replica.pid);
  const victim = ready[n % Math.max(1, ready.length)];
  if (victim?.pid == null) return { ok: false, detail: 'no ready replica to kill' };
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(
    async () => {
      const replica = (await client.status()).replicas.find((r) => r.name === victim.name);
      return replica?.state === 'ready' && replica.pid !== victim.pid;
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: `${victim.name} back after SIGKILL` },
  );
  return { ok: true, detail: `${victim.name}: php-fpm master ${victim.pid} killed, replaced` };
}

function allReady(client: ControlClient): Promise<DaemonStatus> {
  return waitFor(
    async () => {
      const status = await client.status();
      return status.replicas.every((replica) => replica.state === 'ready') ? status : null;
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: 'every replica ready' },
  );
}
