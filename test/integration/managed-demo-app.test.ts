import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHttpLoad, summarise } from '../support/http-load.js';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { survivors } from '../support/process-tree.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { runSwitchyard } from '../support/switchyard-process.js';
import { waitFor } from '../support/wait-for.js';

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

async function releaseJson(url: string): Promise<{ release: string; dir: string; pid: number }> {
  const response = await fetch(`${url}/release.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as { release: string; dir: string; pid: number };
}

describe('switchyard daemon running the demo app as command replicas', () => {
  it('starts two replicas pinned to the release, both serving, and reports them in status', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-start',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
      }),
    );
    const status = await daemon.status();
    expect(status.kind).toBe('command');
    expect(status.servingRelease).toBe(daemon.release);
    expect(status.replicas.map((replica) => replica.name)).toEqual(['replica-1', 'replica-2']);
    for (const replica of status.replicas) {
      expect(replica.state).toBe('ready');
      expect(replica.release).toBe(daemon.release);
      // capacity 2 → 3 processes: one more than switchyard routes, for health checks.
      expect(replica.pids).toHaveLength(3);
      expect(replica.uptimeMs).not.toBeNull();
    }
    const allPids = new Set(status.replicas.flatMap((replica) => replica.pids));
    const answered = new Set<number>();
    for (let i = 0; i < 40 && answered.size < 2; i += 1) {
      const body = await releaseJson(daemon.httpUrl);
      expect(body.dir).toBe(daemon.release);
      expect(allPids.has(body.pid)).toBe(true);
      answered.add(body.pid);
    }
    expect(answered.size).toBeGreaterThanOrEqual(2);

    const human = await daemon.cli(['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('replica-1');
    expect(human.stdout).toContain('ready');
  });

  it('restarts every replica under load without one failed request, with new pids', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-restart',
        replicas: DEMO_APP_REPLICAS(2, 4),
        releaseSource: demoRelease('v1'),
      }),
    );
    const before = new Set(await daemon.replicaPids());
    const url = daemon.httpUrl;
    let restartDone = false;
    const restart = daemon.cli(['restart']).finally(() => {
      restartDone = true;
    });
    // Load runs until the restart has finished: fast requests mixed with 300 ms ones.
    const loads: Array<ReturnType<typeof runHttpLoad>> = [];
    while (!restartDone) {
      loads.push(
        runHttpLoad({
          url,
          requests: 40,
          concurrency: 6,
          pathFor: (i) => (i % 4 === 0 ? '/sleep?ms=300' : '/release.json'),
          timeoutMs: 30_000,
        }),
      );
      await loads[loads.length - 1];
    }
    const result = await restart;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('draining');
    expect(result.stdout).toContain('ready');
    const summaries = (await Promise.all(loads)).map(summarise);
    const failed = summaries.reduce((sum, summary) => sum + summary.failed, 0);
    const ok = summaries.reduce((sum, summary) => sum + summary.ok, 0);
    expect(failed, JSON.stringify(summaries.map((summary) => summary.byStatus))).toBe(0);
    expect(ok).toBeGreaterThan(0);
    const after = await daemon.replicaPids();
    expect(after.filter((pid) => before.has(pid))).toEqual([]);
    expect(survivors([...before])).toEqual([]);
  });

  it('restarts one replica with --replica and leaves the other alone', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-restart-one',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
      }),
    );
    const before = await daemon.status();
    const result = await daemon.cli(['restart', '--replica', '2']);
    expect(result.code, result.stderr).toBe(0);
    const after = await daemon.status();
    expect(after.replicas[0]?.pids).toEqual(before.replicas[0]?.pids);
    expect(after.replicas[1]?.pids).not.toEqual(before.replicas[1]?.pids);

    const missing = await daemon.cli(['restart', '--replica', '7']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('replica 7');
  });

  it('takes a killed replica out of rotation at once and brings it back, counting the restart', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-crash',
        replicas: DEMO_APP_REPLICAS(2, 4),
        releaseSource: demoRelease('v1'),
      }),
    );
    const before = await daemon.status();
    const victim = before.replicas[0]?.pids[0] as number;
    const load = runHttpLoad({
      url: daemon.httpUrl,
      requests: 400,
      concurrency: 6,
      pathFor: () => '/release.json',
      timeoutMs: 30_000,
    });
    await waitFor(async () => ((await daemon?.status())?.replicas[0]?.served ?? 0) > 10, {
      timeoutMs: 10_000,
      what: 'replica-1 to serve some of the load',
    });
    process.kill(victim, 'SIGKILL');
    const summary = summarise(await load);
    // GETs without a body are retryable: none may fail.
    expect(summary.failed, JSON.stringify(summary.byStatus)).toBe(0);
    const after = await daemon.waitReady('replica-1 to come back');
    expect(after.replicas[0]?.restarts).toBe(1);
    expect(after.replicas[0]?.pids).not.toContain(victim);
    expect(after.replicas[0]?.lastError ?? '').toBe('');
    expect(survivors(before.replicas[0]?.pids ?? [])).toEqual([]);
  });

  it('replaces a replica whose health check hangs, keeping the other serving', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-hang',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
        extra: ['[health]', 'interval = "300ms"', 'timeout = "1s"', 'failures = 3'],
      }),
    );
    const before = await daemon.status();
    const [first, second] = before.replicas;
    writeFileSync(join(daemon.release, '.health'), `hang ${first?.pids.join(' ')}`);
    const replaced = await waitFor(
      async () => {
        const replica = (await daemon?.status())?.replicas[0];
        return replica?.state === 'ready' && !replica.pids.some((pid) => first?.pids.includes(pid))
          ? replica
          : null;
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'replica-1 to be replaced' },
    );
    expect(replaced.restarts).toBe(1);
    const after = await daemon.status();
    expect(after.replicas[1]?.pids).toEqual(second?.pids);
    expect(daemon.switchyard.stdout()).toContain('health check failed');
    expect(survivors(first?.pids ?? [])).toEqual([]);
  });

  it('with surge = true, starts a spare first so ready replicas never drop below count', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-surge',
        replicas: DEMO_APP_REPLICAS(2, 2, true),
        releaseSource: demoRelease('v1'),
      }),
    );
    const before = await daemon.replicaPids();
    let fewest = Number.POSITIVE_INFINITY;
    let most = 0;
    let restartDone = false;
    const restart = daemon.cli(['restart']).finally(() => {
      restartDone = true;
    });
    while (!restartDone) {
      const status = await daemon.status();
      const ready = status.replicas.filter((replica) => replica.state === 'ready').length;
      fewest = Math.min(fewest, ready);
      most = Math.max(most, status.replicas.length);
    }
    const result = await restart;
    expect(result.code, result.stderr).toBe(0);
    expect(fewest).toBeGreaterThanOrEqual(2);
    expect(most).toBe(3); // the spare, replica-3, came and went
    const after = await daemon.status();
    expect(after.replicas.map((replica) => replica.name)).toEqual(['replica-1', 'replica-2']);
    expect(
      after.replicas.flatMap((replica) => replica.pids).filter((pid) => before.includes(pid)),
    ).toEqual([]);
  });

  it('SIGHUP applies a changed config by replacing replicas, and refuses a bad one', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-hup',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
      }),
    );
    const configPath = daemon.switchyard.configPath;
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace('capacity = 2', 'capacity = 3'));
    daemon.switchyard.child.kill('SIGHUP');
    // capacity 3 → 4 processes per replica.
    const applied = await waitFor(
      async () => {
        const status = await daemon?.status();
        return status?.replicas.every(
          (replica) => replica.state === 'ready' && replica.pids.length === 4,
        )
          ? status
          : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'replicas restarted with capacity 3' },
    );
    expect(applied.replicas).toHaveLength(2);

    writeFileSync(configPath, original.replace('count = 2', 'count = 1'));
    daemon.switchyard.child.kill('SIGHUP');
    await waitFor(() => daemon?.switchyard.stdout().includes('config refused'), {
      timeoutMs: 10_000,
      what: 'the bad config to be refused',
    });
    expect(daemon.switchyard.stdout()).toContain('replicas.count');
    const after = await daemon.status();
    expect(after.replicas.map((replica) => replica.pids)).toEqual(
      applied.replicas.map((replica) => replica.pids),
    );
    const page = await fetch(`${daemon.httpUrl}/release.json`);
    expect(page.status).toBe(200);
  });

  it('refuses to start a second daemon with the same config, leaving the first untouched', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'cmd-twice',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
        listenExtra: ['group = "nogroup"'],
      }),
    );
    // The FastCGI socket belongs to listen.group, so a web server in that group can use it.
    expect(statSync(daemon.fastcgiSocket).gid).toBe(65534);
    const before = await daemon.replicaPids();
    const second = await runSwitchyard(['daemon', '-c', daemon.switchyard.configPath]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('another switchyard daemon');
    expect(await daemon.replicaPids()).toEqual(before);
    const page = await fetch(`${daemon.httpUrl}/release.json`);
    expect(page.status).toBe(200);
  });
});
