import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { startApache } from '../support/apache.js';
import { startLighttpd } from '../support/lighttpd.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import type { RunningServer } from '../support/server-process.js';
import { cookieScenario, servingScenario } from '../support/static-scenarios.js';
import {
  requireXSendfile,
  type StaticMode,
  startStaticSiteDaemon,
  staticSnippet,
} from '../support/static-site.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

interface Front {
  readonly name: string;
  readonly binary: string | undefined;
  readonly ready: boolean;
  /** The web server with its shipped snippet and the shipped static one, in front of `daemon`. */
  readonly start: (binary: string, daemon: ManagedDaemon) => Promise<RunningServer>;
}

const FRONTS: readonly Front[] = [
  {
    name: 'Apache (mod_xsendfile)',
    binary: requireSystemTool(SystemTool.apache2),
    ready: requireXSendfile(),
    start: (binary, daemon) => {
      const dir = join(daemon.dir, 'apache');
      mkdirSync(dir);
      return startApache({
        binary,
        dir,
        fastcgiAddress: daemon.fastcgiSocket,
        documentRoot: join(daemon.symlink, 'public'),
        extraModules: ['env', 'xsendfile'],
        extraSnippet: staticSnippet('apache', {
          socket: daemon.fastcgiSocket,
          releases: join(daemon.dir, 'releases'),
        }),
      });
    },
  },
  {
    name: 'lighttpd',
    binary: requireSystemTool(SystemTool.lighttpd),
    ready: true,
    start: (binary, daemon) => {
      const dir = join(daemon.dir, 'lighttpd');
      mkdirSync(dir);
      return startLighttpd({
        binary,
        dir,
        fastcgiAddress: daemon.fastcgiSocket,
        documentRoot: join(daemon.symlink, 'public'),
        extraSnippet: (host) =>
          staticSnippet('lighttpd', {
            socket: daemon.fastcgiSocket,
            releases: join(daemon.dir, 'releases'),
            host,
          }),
      });
    },
  },
];

let daemon: ManagedDaemon | null = null;
let server: RunningServer | null = null;

const keep = stopAfterEach();

for (const front of FRONTS) {
  const startStack = async (label: string, mode: StaticMode): Promise<[ManagedDaemon, string]> => {
    daemon = keep(
      await startStaticSiteDaemon({
        label,
        phpFpm: phpFpm as string,
        mode,
        header: 'x-sendfile',
      }),
    );
    server = keep(await front.start(front.binary as string, daemon));
    return [daemon, server.url];
  };

  describe.skipIf(phpFpm === undefined || front.binary === undefined || !front.ready)(
    `[static] behind ${front.name}: X-Sendfile of the release switchyard picks`,
    () => {
      it('serving release: pairs mix only across a cut-over; traversal refused', {
        timeout: 90_000,
      }, async () => {
        const [site, url] = await startStack('static-sendfile-serving', 'serving');
        // switchyard's Content-Type, which both keep: browsers refuse a stylesheet without it.
        await servingScenario(site, url, /^text\/css/);
      });

      it('cookie: no mixed pair; an old page keeps its assets, a new one never gets old ones', {
        timeout: 90_000,
      }, async () => {
        const [site, url] = await startStack('static-sendfile-cookie', 'cookie');
        await cookieScenario(site, url, /^text\/css/);
      });
    },
  );
}
