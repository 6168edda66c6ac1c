import { afterEach, describe, expect, it } from 'vitest';
import { runHttpLoad, summarise } from '../support/http-load.js';
import { type ManagedDaemon, startManagedDaemon } from '../support/managed-daemon.js';
import { phpRelease } from '../support/php-stack.js';
import { descendants, survivors } from '../support/process-tree.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const phpCgi = requireSystemTool(SystemTool.phpCgi);

let daemon: ManagedDaemon | null = null;

afterEach(async () => {
  await daemon?.cleanup();
  daemon = null;
});

const phpFpmReplicas = (capacity: number): string[] => [
  '[replicas]',
  'kind = "php-fpm"',
  'count = 2',
  `capacity = ${capacity}`,
  '[replicas.php_fpm]',
  `binary = "${phpFpm}"`,
];

interface IndexPage {
  readonly release: string;
  readonly dir: string;
  readonly script: string;
  readonly pid: number;
}

async function indexPage(url: string): Promise<IndexPage> {
  const response = await fetch(`${url}/index.php`);
  expect(response.status).toBe(200);
  return (await response.json()) as IndexPage;
}

/** Every process of the daemon's replicas, children included, while it runs. */
function replicaTree(pids: readonly number[]): number[] {
  return [...pids, ...pids.flatMap((pid) => descendants(pid))];
}

describe.skipIf(phpFpm === undefined)('switchyard daemon running php-fpm replicas', () => {
  it('starts two masters pinned to the release and restarts them under load without a failure', async () => {
    daemon = await startManagedDaemon({
      label: 'fpm-restart',
      replicas: phpFpmReplicas(4),
      releaseSource: phpRelease,
    });
    const before = await daemon.status();
    expect(before.kind).toBe('php-fpm');
    expect(before.replicas).toHaveLength(2);
    const masters = before.replicas.map((replica) => replica.pid as number);
    for (const replica of before.replicas) {
      expect(replica.state).toBe('ready');
      expect(replica.release).toBe(daemon.release);
      // capacity 4 → pm.max_children 5: one child kept free for health checks.
      expect(descendants(replica.pid as number)).toHaveLength(5);
    }
    const page = await indexPage(daemon.httpUrl);
    expect(page.dir).toBe(daemon.release);
    expect(page.script).toBe(`${daemon.release}/index.php`);

    let restartDone = false;
    const restart = daemon.cli(['restart']).finally(() => {
      restartDone = true;
    });
    const summaries = [];
    while (!restartDone) {
      summaries.push(
        summarise(
          await runHttpLoad({
            url: daemon.httpUrl,
            requests: 40,
            concurrency: 6,
            pathFor: (i) => (i % 5 === 0 ? '/sleep.php?ms=400' : '/index.php'),
            timeoutMs: 30_000,
          }),
        ),
      );
    }
    const result = await restart;
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const failed = summaries.reduce((sum, summary) => sum + summary.failed, 0);
    expect(failed, JSON.stringify(summaries.map((summary) => summary.byStatus))).toBe(0);
    const after = await daemon.status();
    const newMasters = after.replicas.map((replica) => replica.pid as number);
    expect(newMasters.filter((pid) => masters.includes(pid))).toEqual([]);
    expect(after.replicas.every((replica) => replica.state === 'ready')).toBe(true);
    expect(survivors(masters)).toEqual([]);
  });

  it('recovers from a master killed with SIGKILL under load: no retryable request fails', async () => {
    daemon = await startManagedDaemon({
      label: 'fpm-crash',
      replicas: phpFpmReplicas(4),
      releaseSource: phpRelease,
    });
    const before = await daemon.status();
    const victim = before.replicas[1]?.pid as number;
    const load = runHttpLoad({
      url: daemon.httpUrl,
      requests: 600,
      concurrency: 6,
      pathFor: () => '/index.php',
      timeoutMs: 60_000,
    });
    await waitFor(async () => ((await daemon?.status())?.replicas[1]?.served ?? 0) > 20, {
      timeoutMs: 15_000,
      what: 'replica-2 to serve part of the load',
    });
    process.kill(victim, 'SIGKILL');
    const summary = summarise(await load);
    expect(summary.failed, JSON.stringify(summary.byStatus)).toBe(0);
    const after = await daemon.waitReady('replica-2 to come back');
    expect(after.replicas[1]?.restarts).toBe(1);
    expect(after.replicas[1]?.pid).not.toBe(victim);
    // The killed master's orphaned children finish and go: none is left behind.
    await waitFor(() => survivors([victim]).length === 0, {
      timeoutMs: 15_000,
      what: "the killed master's children to exit",
    });
    const human = await daemon.cli(['status']);
    expect(human.stdout).toMatch(/replica-2\s+ready/);
  });

  it('SIGTERM lets slow requests finish, then exits 0 leaving no php-fpm process', async () => {
    daemon = await startManagedDaemon({
      label: 'fpm-sigterm',
      replicas: phpFpmReplicas(4),
      releaseSource: phpRelease,
    });
    const tree = replicaTree(await daemon.replicaPids());
    const slow = runHttpLoad({
      url: daemon.httpUrl,
      requests: 4,
      concurrency: 4,
      pathFor: () => '/sleep.php?ms=1500',
      timeoutMs: 20_000,
    });
    await waitFor(
      async () =>
        (await daemon?.status())?.replicas.reduce((sum, replica) => sum + replica.inFlight, 0) ===
        4,
      { timeoutMs: 10_000, what: 'four slow requests in flight' },
    );
    daemon.switchyard.child.kill('SIGTERM');
    const summary = summarise(await slow);
    expect(summary.ok, JSON.stringify(summary.byStatus)).toBe(4);
    expect(await daemon.switchyard.exited).toBe(0);
    expect(survivors(tree)).toEqual([]);
  });

  it('SIGKILL of the daemon leaves no php-fpm process behind', async () => {
    daemon = await startManagedDaemon({
      label: 'fpm-sigkill',
      replicas: phpFpmReplicas(2),
      releaseSource: phpRelease,
    });
    const tree = replicaTree(await daemon.replicaPids());
    expect(tree.length).toBeGreaterThanOrEqual(2 + 2 * 3);
    daemon.switchyard.child.kill('SIGKILL');
    await daemon.switchyard.exited;
    await waitFor(() => survivors(tree).length === 0, {
      timeoutMs: 15_000,
      what: 'every php-fpm process to exit after the daemon was killed',
    });
  });
});

describe.skipIf(phpCgi === undefined)(
  'switchyard daemon running php-cgi as command replicas',
  () => {
    it('serves PHP through php-cgi on fd 0, and neither SIGTERM nor SIGKILL leaves php-cgi behind', async () => {
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        daemon = await startManagedDaemon({
          label: `cgi-${signal}`,
          replicas: [
            '[replicas]',
            'kind = "command"',
            'count = 2',
            'capacity = 2',
            '[replicas.command]',
            `argv = ["${phpCgi}"]`,
          ],
          releaseSource: phpRelease,
          extra: ['[health]', 'path = "/hello.php"', 'expect = "Hello"', 'interval = "1s"'],
        });
        const status = await daemon.status();
        expect(status.replicas.every((replica) => replica.pids.length === 3)).toBe(true);
        const seen = new Set<number>();
        for (let i = 0; i < 30; i += 1) {
          const page = await indexPage(daemon.httpUrl);
          expect(page.dir).toBe(daemon.release);
          seen.add(page.pid);
        }
        expect(seen.size).toBeGreaterThanOrEqual(2);
        const tree = replicaTree(await daemon.replicaPids());
        daemon.switchyard.child.kill(signal);
        const code = await daemon.switchyard.exited;
        if (signal === 'SIGTERM') expect(code).toBe(0);
        await waitFor(() => survivors(tree).length === 0, {
          timeoutMs: 15_000,
          what: `every php-cgi process to exit after ${signal}`,
        });
        await daemon.cleanup();
        daemon = null;
      }
    });
  },
);
