import { describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { waitFor } from '../support/wait-for.js';

// `switchyard await` for the release the daemon already converges on, while no switch runs:
// no switch's end answers it, the replicas' own steps do (a crashed one back on it, a rolling
// restart that keeps serving it).

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

describe('switchyard await with no switch to wait for', () => {
  it('waits for a crashed replica to be back, and does not wait out a rolling restart', {
    timeout: 90_000,
  }, async () => {
    // Surge: a restart starts a spare beside each replica; every start warms up for 3 s.
    daemon = keep(
      await startManagedDaemon({
        label: 'await-no-switch',
        replicas: DEMO_APP_REPLICAS(2, 2, true),
        releaseSource: demoRelease('v1'),
        extra: ['[deploy]', 'warmup = ["/sleep?ms=3000"]', 'timeout = "60s"'],
      }),
    );
    const current = daemon;
    const [first] = (await current.status()).replicas;
    process.kill(first?.pid as number, 'SIGKILL');
    await waitFor(
      async () =>
        (await current.status()).replicas.some(
          (replica) => replica.name === first?.name && replica.state === 'starting',
        ),
      { timeoutMs: 20_000, what: `${first?.name} to start again after its crash` },
    );

    const back = await current.cli(['await', '--timeout', '30s']);
    expect(back.code, back.stderr).toBe(0);
    // It waited for the replica's own step, not a switch.
    expect(back.stdout).toMatch(new RegExp(`${first?.name} +ready`));
    expect(back.stdout).toContain(`every replica serves ${current.release}`);
    const after = await current.status();
    expect(after.replicas.filter((replica) => replica.state === 'ready')).toHaveLength(2);

    // A rolling restart replaces the replicas with others on the same release: they serve it
    // throughout, so the wait ends without waiting for the restart (nor for its spare's removal,
    // which no progress line reports).
    const restart = new ControlClient(current.controlSocket).restart({}, () => {});
    await waitFor(
      async () => (await current.status()).replicas.some((replica) => replica.state === 'starting'),
      { timeoutMs: 20_000, what: 'the restart to start a spare' },
    );
    const during = await current.cli(['await', '--timeout', '30s']);
    expect(during.code, during.stderr).toBe(0);
    expect((await restart).ok).toBe(true);
  });
});
