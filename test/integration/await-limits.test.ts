import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { startCli } from '../support/switchyard-process.js';
import { waitFor } from '../support/wait-for.js';

// A `switchyard await` holds a control connection while it waits: the daemon holds at most 16,
// and one whose client leaves is let go at once, so scripts cannot lock the CLI out.

let daemon: ManagedDaemon | null = null;
const open: ClientRequest[] = [];

afterEach(async () => {
  for (const pending of open.splice(0)) pending.destroy();
  await daemon?.cleanup();
  daemon = null;
});

/** POST /v1/await on the control socket; resolves with the response as soon as it starts. */
function startAwait(socketPath: string, release: string): Promise<IncomingMessage> {
  const body = JSON.stringify({ release, timeoutMs: 60_000 });
  return new Promise((resolve, reject) => {
    const pending = request(
      {
        socketPath,
        path: '/v1/await',
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      resolve,
    );
    pending.on('error', reject);
    pending.end(body);
    open.push(pending);
  });
}

async function readAll(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of response) text += chunk;
  return text;
}

describe('switchyard await holds a bounded number of control connections', () => {
  it('16 at once; the 17th is refused; one whose client left frees its place', {
    timeout: 90_000,
  }, async () => {
    daemon = await startManagedDaemon({
      label: 'await-limits',
      firstRelease: 'd0',
      replicas: DEMO_APP_REPLICAS(2, 2),
      releaseSource: demoRelease('v1'),
      extra: ['[deploy]', 'warmup = ["/sleep?ms=6000"]', 'timeout = "60s"'],
    });
    const current = daemon;
    const d1 = current.addRelease('d1', demoRelease('v2'));
    const deploy = startCli(['deploy', d1, '-c', current.switchyard.configPath]);
    let deployEnded = false;
    void deploy.exited.then(() => {
      deployEnded = true;
    });
    await waitFor(() => current.switchyard.stdout().includes('switching release'), {
      timeoutMs: 20_000,
      what: 'the deploy to start',
    });

    // Sixteen waits on the deploy's release: each answers once the switch reports progress.
    const waiting = Array.from({ length: 16 }, () => startAwait(current.controlSocket, d1));
    const extra = await startAwait(current.controlSocket, d1);
    expect(extra.statusCode).toBe(409);
    expect(await readAll(extra)).toContain('ERR_TOO_MANY_AWAITS');
    // The CLI still gets in: status answers.
    expect((await current.status()).servingRelease).toBe(current.release);

    // Their clients leave: the daemon lets their waits go, and a new one is taken.
    for (const pending of open.splice(0)) pending.destroy();
    await Promise.allSettled(waiting);
    const taken = await waitFor(
      async () => {
        const next = await startAwait(current.controlSocket, d1);
        if (next.statusCode === 200) return next;
        await readAll(next);
        return null;
      },
      { timeoutMs: 10_000, what: 'a new await to be taken once the others left' },
    );
    // Still during the switch: their places were freed by leaving, not by the switch ending.
    expect(deployEnded).toBe(false);
    const lines = (await readAll(taken)).trim().split('\n');
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({
      kind: 'done',
      ok: true,
      message: `every replica serves ${d1}`,
    });
    expect(await deploy.exited, deploy.stderr()).toBe(0);
  });
});
