import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import { type NotifyReceiver, startNotifyReceiver } from '../support/notify-receiver.js';
import { PHP_R2 } from '../support/php-fpm-daemon.js';
import { httpGetBody } from '../support/server-process.js';
import { type SwitchyardProcess, startCli } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import {
  killLeftovers,
  prepareSystemdSite,
  replicaPids,
  spawnDaemon,
  type WatchedProcess,
} from '../support/systemd-daemon.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { holdWarmUp } from '../support/warm-up-gate.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
// The notify receiver (test/support/notify-receiver.py).
const python3 = requireSystemTool(SystemTool.python3);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A temp dir, a notify receiver in it, and cleanup of both (and of what the daemon left). */
async function setUp(label: string): Promise<{ dir: string; receiver: NotifyReceiver }> {
  const temp = makeTempDir(label);
  cleanups.push(() => temp.remove());
  const receiver = await startNotifyReceiver(temp.path);
  cleanups.push(() => receiver.close());
  return { dir: temp.path, receiver };
}

function track(daemon: WatchedProcess, controlSocket: string): void {
  const seen = new Set<number>();
  const remember = async () => {
    for (const pid of await replicaPids(controlSocket)) seen.add(pid);
  };
  cleanups.push(async () => {
    await remember();
    await daemon.stop();
    await killLeftovers([...seen]);
  });
}

/** The environment of a running process, as the kernel keeps it. */
function environmentOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

describe.skipIf(phpFpm === undefined || python3 === undefined)(
  'systemd notification (Type=notify)',
  () => {
    it('READY=1 only once a health-checked replica serves, STATUS= through a deploy, RELOADING=1 and READY=1 on SIGHUP, STOPPING=1 on SIGTERM; only the daemon sends, the replicas never see NOTIFY_SOCKET', async () => {
      const { dir, receiver } = await setUp('systemd-notify');
      const site = await prepareSystemdSite({
        dir,
        phpFpm: phpFpm as string,
        warmup: ['/gate.php'],
      });
      const daemon = spawnDaemon(site.configPath, { env: { NOTIFY_SOCKET: receiver.path } });
      track(daemon, site.controlSocket);
      // The first start is held in its warm-up: replicas run and passed their health check,
      // but none is ready yet.
      const hold = holdWarmUp(daemon as unknown as SwitchyardProcess, site.release);
      await hold.reached(30_000);
      const replicas = await waitFor(
        () => {
          // php-fpm masters and children: every descendant of the daemon.
          const pids = readFileSync(`/proc/${daemon.pid}/task/${daemon.pid}/children`, 'utf8')
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map(Number);
          return pids.length > 0 ? pids : null;
        },
        { timeoutMs: 10_000, what: 'the replicas to run' },
      );
      expect(receiver.messages.filter((message) => message.fields.READY === '1')).toEqual([]);
      await expect(httpGetBody(site.httpPort, '/index.php')).rejects.toThrow();
      for (const pid of replicas) {
        const environment = environmentOf(pid);
        expect(environment.some((entry) => entry.startsWith('NOTIFY_SOCKET='))).toBe(false);
      }

      hold.letGo();
      const ready = await receiver.next('READY=1', (message) => message.fields.READY === '1');
      // At the moment READY=1 arrives, a request is served.
      const page = await httpGetBody(site.httpPort, '/index.php');
      expect(page).toContain('"release":"r1"');
      expect(ready.pid).toBe(daemon.pid);
      expect(ready.fields.STATUS).toMatch(/^serving d0; [12]\/2 replicas ready/);

      // A deploy: the STATUS= line says a switch is under way, then the new release serves.
      const d1 = site.addRelease('d1', PHP_R2);
      const deployFrom = receiver.messages.length;
      // Held in its warm-up: the switch lasts until the test has seen the line say so.
      const switchHeld = holdWarmUp(daemon as unknown as SwitchyardProcess, d1);
      const deploy = startCli(['deploy', d1, '-c', site.configPath]);
      await switchHeld.reached();
      await receiver.next(
        'STATUS= naming the switch',
        (message) => /switching to d1; deploy of .*d1$/.test(message.fields.STATUS ?? ''),
        { from: deployFrom },
      );
      switchHeld.letGo();
      expect(await deploy.exited, deploy.stderr()).toBe(0);
      await receiver.next(
        'STATUS= serving d1',
        (message) => /^serving d1; 2\/2 replicas ready$/.test(message.fields.STATUS ?? ''),
        { from: deployFrom },
      );
      const statusLines = receiver.messages
        .slice(deployFrom)
        .filter((message) => message.fields.STATUS);
      // Coalesced: a deploy of two replicas takes a few seconds, so a few lines, not one per step.
      expect(statusLines.length).toBeLessThan(30);

      // SIGHUP: RELOADING=1 (with the monotonic time systemd wants), then READY=1.
      const reloadFrom = receiver.messages.length;
      daemon.child.kill('SIGHUP');
      const reloading = await receiver.next('RELOADING=1', (m) => m.fields.RELOADING === '1', {
        from: reloadFrom,
      });
      expect(reloading.fields.MONOTONIC_USEC).toMatch(/^\d+$/);
      await receiver.next('READY=1 after the reload', (m) => m.fields.READY === '1', {
        from: reloadFrom,
      });
      await new ControlClient(site.controlSocket).status();

      const stopFrom = receiver.messages.length;
      daemon.child.kill('SIGTERM');
      await receiver.next('STOPPING=1', (m) => m.fields.STOPPING === '1', { from: stopFrom });
      expect(await daemon.exited).toBe(0);

      // Every datagram came from the daemon's own pid: never a php-fpm master or child.
      const senders = new Set(receiver.messages.map((message) => message.pid));
      expect([...senders]).toEqual([daemon.pid]);
    }, 120_000);

    it('WATCHDOG=1 at half of WATCHDOG_USEC, from the daemon; none when WATCHDOG_PID names another process', async () => {
      const { dir, receiver } = await setUp('systemd-watchdog');
      const site = await prepareSystemdSite({ dir, phpFpm: phpFpm as string });
      const daemon = spawnDaemon(site.configPath, {
        env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '1000000' },
      });
      track(daemon, site.controlSocket);
      const ready = await receiver.next('READY=1', (message) => message.fields.READY === '1');
      await waitFor(
        () =>
          receiver.messages.filter((m) => m.fields.WATCHDOG === '1' && m.at > ready.at).length >= 6,
        { timeoutMs: 15_000, what: 'six watchdog pings' },
      );
      const pings = receiver.messages.filter((m) => m.fields.WATCHDOG === '1' && m.at > ready.at);
      const gaps = pings.slice(1).map((ping, i) => ping.at - (pings[i]?.at ?? 0));
      const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
      // 500 ms apart; a loaded machine's timers run late, never early.
      expect(mean).toBeGreaterThan(400);
      expect(mean).toBeLessThan(900);
      expect(new Set(pings.map((ping) => ping.pid))).toEqual(new Set([daemon.pid]));
      for (const pid of await replicaPids(site.controlSocket)) {
        const environment = environmentOf(pid);
        expect(environment.some((entry) => /^(WATCHDOG_|LISTEN_)/.test(entry))).toBe(false);
      }
      await daemon.stop();

      // The same with WATCHDOG_PID naming another process: the pings are not for this one.
      const other = await startNotifyReceiver(makeTempDir('systemd-watchdog-other').path);
      cleanups.push(() => other.close());
      const second = spawnDaemon(site.configPath, {
        env: { NOTIFY_SOCKET: other.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' },
      });
      track(second, site.controlSocket);
      const secondReady = await other.next('READY=1', (message) => message.fields.READY === '1');
      // Its event loop runs (it answers), and a second passes: ten pings' worth at 100 ms.
      await new ControlClient(site.controlSocket).status();
      await waitFor(() => Date.now() - secondReady.at > 1_000, {
        timeoutMs: 5_000,
        what: 'a second past READY=1',
      });
      expect(other.messages.filter((m) => m.fields.WATCHDOG === '1')).toEqual([]);
    }, 90_000);
  },
);
