import { existsSync, lstatSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { DEMO_APP_REPLICAS, demoRelease } from '../support/managed-daemon.js';
import { type SwitchyardProcess, startSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// The shipped config puts the FastCGI socket, the control socket and the replicas' sockets in
// the runtime directory. Deleting it used to cut the web server and the CLI off for good.

const temp = makeTempDir('runtime-rm');
let daemon: SwitchyardProcess | null = null;

afterEach(async () => {
  if (daemon !== null && daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
  daemon = null;
  temp.remove();
});

describe('a deleted runtime directory', () => {
  it('is made again, its sockets listened on again and the replicas replaced, with no restart', {
    timeout: 60_000,
  }, async () => {
    const release = demoRelease('v1');
    symlinkSync(release, join(temp.path, 'current'));
    const runtime = join(temp.path, 'run');
    const fastcgi = join(runtime, 'app.sock');
    const controlSocket = join(runtime, 'control.sock');
    daemon = await startSwitchyard(
      temp.path,
      [
        '[listen]',
        `fastcgi = "unix:${fastcgi}"`,
        '[release]',
        `symlink = "${join(temp.path, 'current')}"`,
        ...DEMO_APP_REPLICAS(2, 2),
        '[health]',
        'interval = "500ms"',
        '[control]',
        `socket = "${controlSocket}"`,
        '[paths]',
        `runtime = "${runtime}"`,
        `state = "${join(temp.path, 'state')}"`,
      ].join('\n'),
    );
    const running = daemon;
    const control = new ControlClient(controlSocket);
    const before = await control.status();
    const ask = () => fcgiExchange(fastcgi, { params: phpParams(release, '/release.json') });
    expect((await ask()).status).toBe(200);

    rmSync(runtime, { recursive: true, force: true });
    await waitFor(() => existsSync(fastcgi) && existsSync(controlSocket), {
      timeoutMs: 10_000,
      what: 'both sockets to be listened on again',
    });
    expect(lstatSync(fastcgi).isSocket()).toBe(true);
    // Every replica is replaced, so their sockets are in the new directory.
    const after = await waitFor(
      async () => {
        const status = await control.status();
        const replaced = status.replicas.every(
          (replica) =>
            replica.state === 'ready' &&
            !before.replicas.some((old) => old.pids.some((pid) => replica.pids.includes(pid))),
        );
        return replaced ? status : null;
      },
      { timeoutMs: 30_000, what: 'every replica to be replaced and ready' },
    );
    expect(after.pid).toBe(running.pid);
    for (let i = 0; i < 10; i += 1) expect((await ask()).status).toBe(200);
    // Once each: a rebind must not unlink its own new socket and start over every second.
    for (const key of ['listen.fastcgi', 'control.socket']) {
      expect(running.stdout().split(`(${key}) was removed: listening on it again`)).toHaveLength(2);
    }
    expect(running.child.exitCode).toBeNull();
  });
});
