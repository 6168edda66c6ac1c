import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { cookieScenario, servingScenario } from '../support/static-scenarios.js';
import {
  nginxStaticLines,
  type StaticMode,
  startStaticSiteDaemon,
} from '../support/static-site.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);

/** nginx's own type for .css (its `types`), not switchyard's: X-Accel-Redirect has none. */
const NGINX_CSS = /^text\/css/;

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;

const keep = stopAfterEach();

/** switchyard with [static] in `mode`, behind nginx with deploy/nginx/switchyard-static.conf. */
async function startStack(label: string, mode: StaticMode): Promise<[ManagedDaemon, string]> {
  daemon = keep(
    await startStaticSiteDaemon({
      label,
      phpFpm: phpFpm as string,
      mode,
      header: 'x-accel-redirect',
    }),
  );
  front = keep(
    await startNginx({
      binary: nginx as string,
      dir: daemon.dir,
      fastcgiPass: `unix:${daemon.fastcgiSocket}`,
      documentRoot: join(daemon.symlink, 'public'),
      extraHttp: ['include /etc/nginx/mime.types;'],
      extraServer: nginxStaticLines(join(daemon.dir, 'releases')),
    }),
  );
  return [daemon, front.url];
}

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  '[static] behind nginx: X-Accel-Redirect into the release switchyard picks',
  () => {
    it('serving release: pairs mix only across a cut-over; traversal refused', {
      timeout: 90_000,
    }, async () => {
      const [site, url] = await startStack('static-nginx-serving', 'serving');
      await servingScenario(site, url, NGINX_CSS);
    });

    it('cookie: no mixed pair; an old page keeps its assets, a new one never gets old ones', {
      timeout: 90_000,
    }, async () => {
      const [site, url] = await startStack('static-nginx-cookie', 'cookie');
      await cookieScenario(site, url, NGINX_CSS);
    });
  },
);
