import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isSocketFile } from '../../src/net/unix-socket-file.js';
import { failures } from '../support/deploy-load.js';
import { runHttpLoad } from '../support/http-load.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { startNotifyReceiver } from '../support/notify-receiver.js';
import { answeredBy } from '../support/php-fpm-daemon.js';
import { survivors } from '../support/process-tree.js';
import { daemonServing, servedMore, stall, startSteadyLoad } from '../support/restart-load.js';
import { startSocketHolder } from '../support/socket-holder.js';
import { runSwitchyard, switchyardCommand } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import {
  killLeftovers,
  prepareSystemdSite,
  replicaPids,
  spawnDaemon,
} from '../support/systemd-daemon.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);
const socketActivate = requireSystemTool(SystemTool.socketActivate);
// The notify receiver and the socket holder (test/support/*.py).
const python3 = requireSystemTool(SystemTool.python3);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(label: string): string {
  const temp = makeTempDir(label);
  cleanups.push(() => temp.remove());
  return temp.path;
}

/** Every replica pid any daemon on `controlSocket` reported, killed at cleanup. */
function leftoversOf(controlSocket: string): () => Promise<void> {
  const seen = new Set<number>();
  cleanups.push(() => killLeftovers([...seen]));
  return async () => {
    for (const pid of await replicaPids(controlSocket)) seen.add(pid);
  };
}

describe.skipIf(
  phpFpm === undefined ||
    nginx === undefined ||
    socketActivate === undefined ||
    python3 === undefined,
)('socket activation: the FastCGI and control sockets passed in (LISTEN_FDS)', () => {
  it('nginx → switchyard on the sockets systemd-socket-activate passes: the first request waits in the backlog while the replicas start, then is served; an upgrade hands them on with MAINPID=; no daemon removes a socket it was given', async () => {
    const dir = tempDir('socket-activate');
    const site = await prepareSystemdSite({ dir, phpFpm: phpFpm as string });
    const remember = leftoversOf(site.controlSocket);
    const receiver = await startNotifyReceiver(dir);
    cleanups.push(() => receiver.close());
    const daemon = spawnDaemon(site.configPath, {
      prefix: [
        socketActivate as string,
        '-l',
        site.fastcgiSocket,
        '-l',
        site.controlSocket,
        '--fdname=fastcgi:control',
        // It passes its child only what -E names (and LISTEN_*).
        '-E',
        `NOTIFY_SOCKET=${receiver.path}`,
      ],
    });
    cleanups.push(async () => {
      await remember();
      await daemon.stop();
    });
    await waitFor(() => isSocketFile(site.fastcgiSocket), {
      timeoutMs: 10_000,
      what: 'systemd-socket-activate to listen',
    });
    const front = await startNginx({
      binary: nginx as string,
      dir,
      fastcgiPass: `unix:${site.fastcgiSocket}`,
      documentRoot: site.symlink,
    });
    cleanups.push(() => front.stop());
    // The first connection starts the daemon (systemd-socket-activate execs it in place).
    const [first] = (
      await runHttpLoad({
        url: front.url,
        requests: 1,
        concurrency: 1,
        pathFor: () => '/index.php',
        timeoutMs: 60_000,
      })
    ).responses;
    if (first === undefined) throw new Error('no response');
    expect(first.status, first.error ?? first.body.toString()).toBe(200);
    expect(answeredBy(first.headers)).toBe('d0');
    const status = await daemonServing(site.controlSocket, daemon.pid);
    expect(status.pid).toBe(daemon.pid);
    await remember();
    expect(daemon.stdout()).toContain('control socket passed in');
    const ready = await receiver.next('READY=1', (m) => m.fields.READY === '1');
    expect(ready.pid).toBe(daemon.pid);

    // switchyard upgrade: the sockets it was handed go on to the next daemon, and systemd
    // hears of the new main pid from both.
    const upgraded = await runSwitchyard(['upgrade', '-c', site.configPath]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const successor = Number(/upgraded: pid (\d+) serves/.exec(upgraded.stdout)?.[1]);
    cleanups.push(async () => {
      if (survivors([successor]).length > 0) process.kill(successor, 'SIGTERM');
      await waitFor(() => survivors([successor]).length === 0, {
        timeoutMs: 30_000,
        what: 'the new daemon to stop',
      }).catch(() => {});
    });
    expect(await daemon.exited).toBe(0);
    await receiver.next(
      'MAINPID= and READY=1 from the new daemon',
      (m) =>
        m.pid === successor && m.fields.MAINPID === String(successor) && m.fields.READY === '1',
    );
    await receiver.next(
      'MAINPID= for the new daemon from the old one',
      (m) => m.pid === daemon.pid && m.fields.MAINPID === String(successor),
    );
    // The old one stopped without STOPPING=1: the service goes on.
    expect(receiver.messages.filter((m) => m.fields.STOPPING === '1')).toEqual([]);
    await daemonServing(site.controlSocket, successor);
    await remember();
    const [again] = (
      await runHttpLoad({
        url: front.url,
        requests: 1,
        concurrency: 1,
        pathFor: () => '/index.php',
        timeoutMs: 30_000,
      })
    ).responses;
    expect(again?.status).toBe(200);

    process.kill(successor, 'SIGTERM');
    await receiver.next('STOPPING=1', (m) => m.pid === successor && m.fields.STOPPING === '1');
    await waitFor(() => survivors([successor]).length === 0, {
      timeoutMs: 30_000,
      what: 'the new daemon to stop',
    });
    // Both files are still there: they are the socket unit's, not the daemon's.
    expect(isSocketFile(site.fastcgiSocket)).toBe(true);
    expect(isSocketFile(site.controlSocket)).toBe(true);
  }, 90_000);

  it('a socket passed in bound elsewhere than listen.fastcgi: exit 78 naming the key, before any replica starts', async () => {
    const dir = tempDir('socket-activate-mismatch');
    const site = await prepareSystemdSite({ dir, phpFpm: phpFpm as string });
    const elsewhere = `${dir}/elsewhere.sock`;
    const daemon = spawnDaemon(site.configPath, {
      prefix: [socketActivate as string, '-l', elsewhere, '--fdname=fastcgi'],
    });
    cleanups.push(async () => {
      await daemon.stop();
    });
    await waitFor(() => isSocketFile(elsewhere), { timeoutMs: 10_000, what: 'the socket' });
    const trigger = connect(elsewhere);
    trigger.on('error', () => {});
    cleanups.push(() => {
      trigger.destroy();
    });
    expect(await daemon.exited).toBe(78);
    expect(daemon.stderr()).toMatch(
      /listen\.fastcgi: the socket passed in as "fastcgi" \(fd 3\) is bound to .*elsewhere\.sock/,
    );
    expect(daemon.stdout()).not.toContain('replica-1');
  }, 60_000);

  it('restart on a held socket under load through nginx (what systemctl restart does with a socket unit): zero failed requests', async () => {
    const dir = tempDir('socket-restart');
    const site = await prepareSystemdSite({ dir, phpFpm: phpFpm as string });
    const remember = leftoversOf(site.controlSocket);
    const holder = await startSocketHolder(site.fastcgiSocket, 'fastcgi', dir, [
      ...switchyardCommand,
      'daemon',
      '-c',
      site.configPath,
    ]);
    const generations: number[] = [];
    cleanups.push(async () => {
      await remember();
      for (const pid of survivors(generations)) process.kill(pid, 'SIGTERM');
      await holder.close();
    });
    const first = await holder.start();
    generations.push(first.pid);
    await daemonServing(site.controlSocket, first.pid);
    await remember();
    const front: RunningNginx = await startNginx({
      binary: nginx as string,
      dir,
      fastcgiPass: `unix:${site.fastcgiSocket}`,
      documentRoot: site.symlink,
    });
    cleanups.push(() => front.stop());
    const load = startSteadyLoad(front.url);
    let current = first;
    for (let round = 1; round <= 2; round += 1) {
      await servedMore(site.controlSocket, current.pid, 200);
      await remember();
      // systemctl restart: stop, wait for the exit, start the next one on the same socket.
      process.kill(current.pid, 'SIGTERM');
      await waitFor(() => survivors([current.pid]).length === 0, {
        timeoutMs: 60_000,
        what: `generation ${round} to exit`,
      });
      expect(current.output()).toContain('"msg":"stopped"');
      current = await holder.start();
      generations.push(current.pid);
      await daemonServing(site.controlSocket, current.pid);
      await remember();
    }
    await servedMore(site.controlSocket, current.pid, 200);
    const batches = await load.stop();
    expect(failures(batches)).toEqual([]);
    const measured = stall(batches);
    process.stdout.write(
      `socket-activated restart x2 under load: ${measured.requests} requests, 0 failed, longest ${measured.longestMs} ms, median ${measured.medianMs} ms\n`,
    );
    // The stall is a daemon's start (its replicas' first health checks), not a timeout.
    expect(measured.longestMs).toBeLessThan(30_000);
  }, 180_000);
});
