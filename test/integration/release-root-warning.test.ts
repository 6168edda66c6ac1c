import { describe, expect, it } from 'vitest';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';

// Without release.root, `deploy /` would serve any .php on the host: the daemon says so at
// every start, as a warning in its log.

let daemon: ManagedDaemon | null = null;
const keep = stopAfterEach();

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly key?: string;
}

function warnings(stdout: string): LogLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.key === 'release.root');
}

describe('release.root unset', () => {
  it('managed replicas: the daemon warns at start that any directory on the host can be deployed', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'no-root',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
      }),
    );
    const [warning, ...more] = warnings(daemon.switchyard.stdout());
    expect(more).toEqual([]);
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain('release.root is not set');
    expect(warning?.msg).toContain('`deploy /` would let every .php file on the host run');
  });

  it('with release.root set: no warning', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'with-root',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
        releaseExtra: ['root = "<dir>/releases"'],
      }),
    );
    expect(daemon.switchyard.stdout()).toContain('switchyard is serving');
    expect(warnings(daemon.switchyard.stdout())).toEqual([]);
  });
});
