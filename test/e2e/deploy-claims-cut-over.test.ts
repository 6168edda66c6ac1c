import { describe, expect, it } from 'vitest';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import type { HttpLoadResponse } from '../support/http-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import {
  answeredBy,
  PHP_R1,
  PHP_R2,
  RELEASE_HEADER,
  startPhpFpmDaemon,
} from '../support/php-fpm-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;

const keep = stopAfterEach();

const DEPLOYS = 5;
const CLIENTS = 12;

const releaseIndex = (name: string): number => Number(name.replace(/^d/, ''));
/** When the whole answer had arrived, on the one clock every client shares. */
const receivedAt = (response: HttpLoadResponse): number => response.startedAt + response.latencyMs;

/**
 * Requests sent after some client had already received an answer from a newer release, yet
 * answered by an older one: a new, then old, across connections.
 */
function oldAfterNew(responses: readonly HttpLoadResponse[]): string[] {
  const firstReceived = new Map<number, number>();
  for (const response of responses) {
    const index = releaseIndex(answeredBy(response.headers));
    firstReceived.set(
      index,
      Math.min(firstReceived.get(index) ?? Number.POSITIVE_INFINITY, receivedAt(response)),
    );
  }
  const problems: string[] = [];
  for (const response of responses) {
    const index = releaseIndex(answeredBy(response.headers));
    for (const [newer, at] of firstReceived) {
      if (newer > index && response.startedAt > at) {
        problems.push(
          `request #${response.i} sent ${(response.startedAt - at).toFixed(1)} ms after the first d${newer} answer arrived, answered by d${index}`,
        );
      }
    }
  }
  return problems;
}

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'the cut-over across every client connection: nginx → switchyard → php-fpm',
  () => {
    it(`${DEPLOYS} deploys under ${CLIENTS} clients: no request sent after any client got a new-release answer is answered by an older release`, {
      timeout: 60_000,
    }, async () => {
      daemon = keep(
        await startPhpFpmDaemon({
          label: 'claims-cut-over',
          phpFpm: phpFpm as string,
          warmup: ['/index.php'],
        }),
      );
      const current = daemon;
      front = keep(
        await startNginx({
          binary: nginx as string,
          dir: current.dir,
          fastcgiPass: `unix:${current.fastcgiSocket}`,
          documentRoot: current.symlink,
        }),
      );
      const load = startDeployLoad({
        url: front.url,
        releaseHeader: RELEASE_HEADER,
        concurrency: CLIENTS,
        pathFor: (i) => (i % 12 === 0 ? '/sleep.php?ms=200' : '/index.php'),
      });
      for (let k = 1; k <= DEPLOYS; k += 1) {
        const dir = current.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1);
        const result = await current.cli(['deploy', dir]);
        expect(result.code, `deploy ${k}: ${result.stderr}${result.stdout}`).toBe(0);
      }
      const responses = (await load.stop()).flat();

      expect(failures([responses])).toEqual([]);
      expect(oldAfterNew(responses)).toEqual([]);
      // The check had something to bite on: every release answered, and around each cut-over
      // other clients were sending requests within 50 ms of the first new answer arriving.
      for (let k = 1; k <= DEPLOYS; k += 1) {
        const fromK = responses.filter((response) => answeredBy(response.headers) === `d${k}`);
        expect(fromK.length, `answers from d${k}`).toBeGreaterThan(0);
        const first = Math.min(...fromK.map(receivedAt));
        const near = responses.filter(
          (response) => response.startedAt > first && response.startedAt < first + 50,
        );
        expect(
          near.length,
          `requests sent within 50 ms after the first d${k} answer`,
        ).toBeGreaterThan(2);
      }
    });
  },
);
