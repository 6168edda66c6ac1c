import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import type { HttpLoadResponse } from '../support/http-load.js';
import { type ManagedDaemon, QUICK_HEALTH, startManagedDaemon } from '../support/managed-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

const R1 = join(repoRoot, 'fixtures/php/releases/r1');
const R2 = join(repoRoot, 'fixtures/php/releases/r2');
const COUNT = 2;
const CAPACITY = 2;
/** Far more than any machine has: "auto" cannot surge with it. */
const HUGE_MARGIN = '1048576GiB';

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

async function start(
  label: string,
  replicasExtra: readonly string[] = [],
  deployExtra: readonly string[] = [],
): Promise<ManagedDaemon> {
  daemon = keep(
    await startManagedDaemon({
      label,
      replicas: [
        '[replicas]',
        'kind = "php-fpm"',
        `count = ${COUNT}`,
        `capacity = ${CAPACITY}`,
        ...replicasExtra,
        '[replicas.php_fpm]',
        `binary = "${phpFpm}"`,
      ],
      releaseSource: R1,
      extra: [...QUICK_HEALTH, '[deploy]', 'timeout = "60s"', ...deployExtra],
    }),
  );
  return daemon;
}

/** The index of the first line matching `pattern`, or -1. */
const lineOf = (lines: readonly string[], pattern: RegExp): number =>
  lines.findIndex((line) => pattern.test(line));

describe.skipIf(phpFpm === undefined)('surge = "auto" with real php-fpm replicas', () => {
  it('by default, with memory to spare, a deploy starts a whole new set before any old replica leaves, and says why', {
    timeout: 120_000,
  }, async () => {
    const current = await start('surge-auto');
    const before = await current.status();
    expect(before.surge).toEqual({ setting: 'auto', last: null });

    const result = await current.cli(['deploy', current.addRelease('two', R2)]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^surge: yes \(needs \d+ (KiB|MiB) for 2 more replicas and a 256 MiB margin, [\d.]+ (MiB|GiB) available\)$/,
    );
    // Capacity never drops: replicas 3 and 4 are ready on the new release before the cut-over,
    // and no serving replica is drained before it.
    const cutOver = lineOf(lines, /^cut-over/);
    expect(cutOver).toBeGreaterThan(0);
    for (const spare of ['replica-3', 'replica-4']) {
      const ready = lineOf(lines, new RegExp(`^${spare} +ready +pid \\d+ +two`));
      expect(ready, result.stdout).toBeGreaterThan(0);
      expect(ready).toBeLessThan(cutOver);
    }
    const firstDrain = lineOf(lines, /draining/);
    expect(firstDrain, result.stdout).toBeGreaterThan(cutOver);

    const after = await current.status();
    expect(after.surge?.last).toMatchObject({ surge: true, change: 'switch', message: lines[0] });
    const status = await current.cli(['status']);
    expect(status.stdout).toContain(`surge    auto; at the last switch (`);
    expect(status.stdout).toContain(`): ${lines[0]}`);

    // A rolling restart measures again, for the one spare it adds at a time.
    const restart = await current.cli(['restart']);
    expect(restart.code, restart.stderr).toBe(0);
    const restartLines = restart.stdout.split('\n');
    expect(restartLines[0]).toMatch(/^surge: yes \(needs \d+ (KiB|MiB) for 1 more replica and /);
    expect(lineOf(restartLines, /^replica-3 +starting/)).toBeGreaterThan(0);
    expect((await current.status()).surge?.last?.change).toBe('restart');
  });

  it('with a margin larger than the machine’s memory, switches half at a time and says why', {
    timeout: 120_000,
  }, async () => {
    const current = await start('surge-short', [`surge_margin = "${HUGE_MARGIN}"`]);
    const result = await current.cli(['deploy', current.addRelease('two', R2)]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^surge: no \(needs \d+ (KiB|MiB) for 2 more replicas and a 1048576\.0 GiB margin, [\d.]+ (MiB|GiB) available\): half the replicas switch at a time$/,
    );
    // Half and half: one serving replica is drained and restarted on the new release before
    // the cut-over, and no third replica ever runs.
    const cutOver = lineOf(lines, /^cut-over/);
    const firstDrain = lineOf(lines, /draining/);
    expect(firstDrain, result.stdout).toBeGreaterThan(0);
    expect(firstDrain).toBeLessThan(cutOver);
    expect(result.stdout).not.toContain('replica-3');
    const status = await current.status();
    expect(status.surge).toMatchObject({
      setting: 'auto',
      last: { surge: false, change: 'switch', message: lines[0] },
    });
  });

  it('under a load that keeps every worker busy, a deploy or a restart does not stall requests much longer than no change', {
    timeout: 240_000,
  }, async () => {
    // Each new replica is warmed up for 1.5 s before it takes traffic, as an application
    // whose first requests fill opcache is. Without surge, half the workers are out for that
    // long and a request waits up to the page's own second for one (measured: ~950 ms longer
    // than without a deploy); with it, the old set serves in full until the new one is ready.
    const current = await start('surge-stall', [], ['warmup = ["/where.php?ms=1500"]']);
    // As many connections as routed workers, each holding one for a second.
    const workers = COUNT * CAPACITY;
    const longest = (batches: readonly HttpLoadResponse[][]): number =>
      Math.max(...batches.flat().map((response) => response.latencyMs));
    /** Every worker busy, `change` run meanwhile; the answers. */
    const underBusyLoad = async (change: () => Promise<void>): Promise<HttpLoadResponse[][]> => {
      const load = startDeployLoad({
        url: current.httpUrl,
        releaseHeader: 'X-Unused',
        concurrency: workers,
        pathFor: () => '/where.php?ms=1000',
      });
      await waitFor(
        async () =>
          (await current.status()).replicas.reduce((sum, replica) => sum + replica.inFlight, 0) >=
          workers,
        { timeoutMs: 10_000, what: 'every worker busy', intervalMs: 50 },
      );
      await change();
      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      return batches;
    };

    const quiet = longest(await underBusyLoad(async () => {}));
    const operations: Array<[string, string[]]> = [
      ['deploy', ['deploy', current.addRelease('two', R2)]],
      ['restart', ['restart']],
    ];
    for (const [name, args] of operations) {
      let output = '';
      const busy = longest(
        await underBusyLoad(async () => {
          const result = await current.cli(args);
          expect(result.code, result.stderr).toBe(0);
          output = result.stdout;
        }),
      );
      expect(output).toMatch(/^surge: yes/);
      expect(
        busy - quiet,
        `${name}: longest ${busy} ms, ${quiet} ms without a change`,
      ).toBeLessThan(500);
    }
  });
});
