import { readdirSync, symlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import { DEMO_APP_REPLICAS, demoRelease } from '../support/managed-daemon.js';
import {
  freePort,
  type SwitchyardProcess,
  startSwitchyard,
} from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// Out of file descriptors: 400 idle connections against a descriptor limit of 400 used to
// make the daemon's respawn of a replica fail with EMFILE, unhandled, and the daemon died with
// its replicas. Now the fronts take only what fits under the limit beside the replicas' share,
// and nothing a client does can take the descriptors a respawn needs.

const LIMIT = 400;
const temp = makeTempDir('nofile');
let daemon: SwitchyardProcess | null = null;
const idle: Socket[] = [];

afterEach(async () => {
  for (const socket of idle.splice(0)) socket.destroy();
  if (daemon !== null && daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
  daemon = null;
  temp.remove();
});

function openIdle(path: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    let settled = 0;
    for (let i = 0; i < count; i += 1) {
      const socket = connect(path);
      const done = () => {
        settled += 1;
        if (settled === count) resolve();
      };
      socket.once('connect', done);
      socket.once('error', done);
      idle.push(socket);
    }
  });
}

describe('a daemon with a low descriptor limit', () => {
  it(`survives ${LIMIT} idle connections against a limit of ${LIMIT}, respawns a killed replica and serves`, {
    timeout: 60_000,
  }, async () => {
    symlinkSync(demoRelease('v1'), join(temp.path, 'current'));
    const port = await freePort();
    daemon = await startSwitchyard(
      temp.path,
      [
        '[listen]',
        `fastcgi = "unix:${join(temp.path, 'front.sock')}"`,
        `http = "127.0.0.1:${port}"`,
        '[release]',
        `symlink = "${join(temp.path, 'current')}"`,
        ...DEMO_APP_REPLICAS(2, 2),
        '[health]',
        'interval = "500ms"',
        '[control]',
        `socket = "${join(temp.path, 'control.sock')}"`,
        '[paths]',
        `runtime = "${join(temp.path, 'run')}"`,
        `state = "${join(temp.path, 'state')}"`,
      ].join('\n'),
      { under: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--'] },
    );
    const running = daemon;
    expect(running.stdout()).toContain('limits.max_connections lowered to');
    const control = new ControlClient(join(temp.path, 'control.sock'));
    const before = await control.status();

    await openIdle(join(temp.path, 'front.sock'), LIMIT);
    const descriptors = readdirSync(`/proc/${running.pid}/fd`).length;
    expect(descriptors).toBeLessThan(LIMIT);

    // A replica dies while the clients hold every connection they can get.
    const victim = before.replicas[1]?.pids[0] as number;
    process.kill(victim, 'SIGKILL');
    await waitFor(
      async () => {
        const status = await control.status();
        const replica = status.replicas[1];
        return (
          replica?.state === 'ready' && replica.restarts === 1 && !replica.pids.includes(victim)
        );
      },
      { timeoutMs: 20_000, what: 'replica-2 to be respawned and ready' },
    );
    expect(running.child.exitCode).toBeNull();
    for (let i = 0; i < 10; i += 1) {
      const response = await fetch(`http://127.0.0.1:${port}/release.json`);
      expect(response.status).toBe(200);
      await response.text();
    }
  });
});
