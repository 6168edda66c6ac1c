import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { deploysUnderPageClients, expectPairs } from '../support/static-scenarios.js';
import { startStaticSiteDaemon } from '../support/static-site.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);

const DEPLOYS = 5;

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;

const keep = stopAfterEach();

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'without [static]: nginx serves static files from `current`, PHP goes through switchyard',
  () => {
    it('5 deploys under page + stylesheet clients: at most the pair straddling each cut-over is mixed', {
      timeout: 120_000,
    }, async () => {
      daemon = keep(
        await startStaticSiteDaemon({
          label: 'static-baseline',
          phpFpm: phpFpm as string,
          mode: 'symlink',
          header: 'x-accel-redirect',
        }),
      );
      // The usual symlink setup: nginx resolves `current` on every static file it opens.
      front = keep(
        await startNginx({
          binary: nginx as string,
          dir: daemon.dir,
          fastcgiPass: `unix:${daemon.fastcgiSocket}`,
          documentRoot: join(daemon.symlink, 'public'),
        }),
      );
      const report = await deploysUnderPageClients(daemon, front.url, {
        clients: 4,
        deploys: DEPLOYS,
      });
      // The symlink moves in the tick of the balancer's toggle: only a pair whose page came
      // before the cut-over and whose stylesheet came after can mix, one per deploy.
      expectPairs(report, DEPLOYS);
    });
  },
);
