import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import {
  nginxStaticLines,
  RELEASE_HEADER,
  STATIC_R1,
  STATIC_R2,
} from '../test/support/static-site.js';
import { waitFor } from '../test/support/wait-for.js';
import type { DeployStack } from './deploy-stack.js';
import type { PhpStackPrograms } from './php-stack-programs.js';
import { childPids } from './proc-stats.js';
import { runSwitchyardCli } from './switchyard-cli.js';

const run = promisify(execFile);

/** What one deploy did, on the clock the page clients use (epoch ms). */
export interface DeployOutcome {
  /** The release it switched to, as the fixture's marker names it (`r1`, `r2`). */
  readonly target: string;
  readonly startedAt: number;
  readonly doneAt: number;
  /** switchyard's surge decision (`surge: yes (…)`), if it printed one (builds before "auto" do not). */
  readonly surgeLine?: string;
}

/** One way of serving fixtures/static-site: a URL for the page clients, and how it deploys. */
export interface AssetSetup {
  readonly name: string;
  readonly url: string;
  /** nginx's master (its worker is its child) and the daemon, for the CPU they use. */
  readonly nginxPid: number;
  readonly daemonPid?: number;
  /** Deploys a fresh copy of r2 (odd k) or r1 (even k) as `releases/d<k>`; resolves when done. */
  deploy(k: number): Promise<DeployOutcome>;
}

/** A deploy alternates the two fixture releases, each time as a new directory. */
const releaseFor = (k: number) =>
  k % 2 === 1 ? { target: 'r2', source: STATIC_R2 } : { target: 'r1', source: STATIC_R1 };

const epochNow = () => performance.timeOrigin + performance.now();

/** nginx's own types for .css and .js, as a site has them. */
const MIME_TYPES = ['include /etc/nginx/mime.types;'];

/**
 * (a) nginx → one php-fpm master of 8 workers, PHP through `$realpath_root`, static files
 * from `current/public` (nginx follows the symlink on every open). A deploy is `ln -sfn` and
 * SIGUSR2 (what `systemctl reload php8.2-fpm` does); done when every worker is a new one.
 */
export async function startReloadSetup(
  name: string,
  stack: DeployStack,
  programs: PhpStackPrograms,
): Promise<AssetSetup> {
  const master = await stack.startPhpFpm(programs.phpFpm, 8);
  const front = await stack.startNginx(programs.nginx, master.socket, {
    keepConn: false,
    realpathRoot: true,
    documentRoot: join(stack.symlink, 'public'),
    extraHttp: MIME_TYPES,
  });
  return {
    name,
    url: front.url,
    nginxPid: front.pid,
    async deploy(k) {
      const { target, source } = releaseFor(k);
      const dir = stack.addRelease(`d${k}`, source);
      const oldWorkers = new Set(childPids(master.pid));
      const startedAt = epochNow();
      await run('ln', ['-sfn', dir, stack.symlink]);
      process.kill(master.pid, 'SIGUSR2');
      // The next reload must not land in the middle of this one.
      await waitFor(
        () => {
          const workers = childPids(master.pid);
          return workers.length >= 8 && workers.every((pid) => !oldWorkers.has(pid));
        },
        { timeoutMs: 30_000, intervalMs: 10, what: `php-fpm's reload for deploy ${k}` },
      );
      return { target, startedAt, doneAt: epochNow() };
    },
  };
}

/** Where static files come from when PHP goes through switchyard. */
export type SwitchyardStatic = 'symlink' | 'serving' | 'cookie';

/**
 * (b) nginx → switchyard → 2 php-fpm replicas of 4, static files from `current/public` as in
 * (a); (c), (d) the same with `[static]` (`release = "serving"` or `"cookie"`) and the shipped
 * deploy/nginx/switchyard-static.conf: asset requests go to switchyard, which answers with
 * X-Accel-Redirect into the release it picks. A deploy is `switchyard deploy <dir>`.
 */
export async function startSwitchyardSetup(
  name: string,
  stack: DeployStack,
  programs: PhpStackPrograms,
  staticFiles: SwitchyardStatic,
): Promise<AssetSetup & { readonly daemonPid: number }> {
  const releases = join(stack.dir, 'releases');
  const daemon = await stack.startSwitchyard({
    cli: programs.cli,
    phpFpm: programs.phpFpm,
    capacity: 4,
    releaseHeader: RELEASE_HEADER,
    warmup: ['/public/index.php'],
    releaseRoot: true,
    extra:
      staticFiles === 'symlink'
        ? []
        : [
            '[static]',
            'header = "x-accel-redirect"',
            'document_root = "public"',
            `release = "${staticFiles}"`,
          ],
  });
  const front = await stack.startNginx(programs.nginx, daemon.socket, {
    keepConn: true,
    realpathRoot: false,
    documentRoot: join(stack.symlink, 'public'),
    extraHttp: MIME_TYPES,
    ...(staticFiles === 'symlink' ? {} : { extraServer: nginxStaticLines(releases) }),
  });
  return {
    name,
    url: front.url,
    nginxPid: front.pid,
    daemonPid: daemon.pid,
    async deploy(k) {
      const { target, source } = releaseFor(k);
      const dir = stack.addRelease(`d${k}`, source);
      const startedAt = epochNow();
      const result = await runSwitchyardCli(programs.cli, ['deploy', dir], daemon.config);
      const doneAt = epochNow();
      if (result.code !== 0) {
        throw new Error(`${name}: switchyard deploy ${k} exited ${result.code}:\n${result.output}`);
      }
      const surgeLine = result.output.split('\n').find((line) => line.startsWith('surge:'));
      return { target, startedAt, doneAt, ...(surgeLine === undefined ? {} : { surgeLine }) };
    },
  };
}
