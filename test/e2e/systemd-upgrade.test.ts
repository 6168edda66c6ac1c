import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import { failures } from '../support/deploy-load.js';
import { startNginx } from '../support/nginx.js';
import { survivors } from '../support/process-tree.js';
import { daemonServing, servedMore, stall, startSteadyLoad } from '../support/restart-load.js';
import {
  runSwitchyard,
  type SwitchyardProcess,
  startCli,
  switchyardCommand,
} from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import {
  killLeftovers,
  prepareSystemdSite,
  replicaPids,
  spawnDaemon,
} from '../support/systemd-daemon.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { holdWarmUp } from '../support/warm-up-gate.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Waits until none of `pids` runs (zombies do not count: their process is gone). */
function gone(pids: readonly number[], what: string): Promise<boolean> {
  return waitFor(() => survivors(pids).length === 0, { timeoutMs: 60_000, what });
}

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'switchyard upgrade: a new daemon on the same sockets, refusing nothing',
  () => {
    it('five upgrades in a row under load through nginx (and one by SIGUSR2): zero failed requests, a new daemon each time, the old one and its replicas gone, history kept; an upgrade whose new daemon refuses its config leaves the old one serving and fails', async () => {
      const temp = makeTempDir('upgrade');
      cleanups.push(() => temp.remove());
      const site = await prepareSystemdSite({ dir: temp.path, phpFpm: phpFpm as string });
      const daemons: number[] = [];
      const replicas = new Set<number>();
      const first = spawnDaemon(site.configPath);
      daemons.push(first.pid);
      cleanups.push(async () => {
        for (const pid of survivors(daemons)) process.kill(pid, 'SIGTERM');
        await gone(daemons, 'every daemon to stop').catch(() => {});
        await killLeftovers([...daemons, ...replicas]);
      });
      const rememberReplicas = async () => {
        const pids = await replicaPids(site.controlSocket);
        for (const pid of pids) replicas.add(pid);
        return pids;
      };
      await daemonServing(site.controlSocket, first.pid);
      const front = await startNginx({
        binary: nginx as string,
        dir: temp.path,
        fastcgiPass: `unix:${site.fastcgiSocket}`,
        documentRoot: site.symlink,
      });
      cleanups.push(() => front.stop());
      // A switch recorded before the upgrades: the history must survive them.
      const d1 = site.addRelease('d1', site.release);
      const deployed = await runSwitchyard(['deploy', d1, '-c', site.configPath]);
      expect(deployed.code, deployed.stderr).toBe(0);

      const load = startSteadyLoad(front.url);
      let current = first.pid;
      for (let round = 1; round <= 6; round += 1) {
        await servedMore(site.controlSocket, current, 100);
        const oldReplicas = await rememberReplicas();
        let next: number;
        if (round <= 5) {
          const upgraded = await runSwitchyard(['upgrade', '-c', site.configPath]);
          expect(
            upgraded.code,
            `${upgraded.stdout}${upgraded.stderr}${first.stdout().slice(-3000)}`,
          ).toBe(0);
          const match = /upgraded: pid (\d+) serves/.exec(upgraded.stdout);
          expect(match, upgraded.stdout).not.toBeNull();
          next = Number(match?.[1]);
        } else {
          // nginx's way: SIGUSR2 to the daemon.
          process.kill(current, 'SIGUSR2');
          next = await waitFor(
            async () => {
              const status = await new ControlClient(site.controlSocket).status();
              return status.pid !== current ? status.pid : null;
            },
            { timeoutMs: 60_000, what: 'a new daemon after SIGUSR2', intervalMs: 100 },
          );
        }
        daemons.push(next);
        expect(next).not.toBe(current);
        await gone([current], `daemon ${current} to exit after round ${round}`);
        await gone(oldReplicas, `the replicas of daemon ${current} to stop`);
        const status = await daemonServing(site.controlSocket, next);
        expect(status.lastDeploy?.release).toBe(d1);
        expect(status.servingRelease).toBe(d1);
        await rememberReplicas();
        current = next;
      }
      await servedMore(site.controlSocket, current, 100);

      // An upgrade to a daemon that refuses its config: the old one serves on.
      const config = readFileSync(site.configPath, 'utf8');
      site.writeConfig(['[limits]', 'queue = -1']);
      const refused = await runSwitchyard(['upgrade', '-c', site.configPath]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /upgrade failed, this daemon \(pid \d+\) serves on: config error: limits\.queue/,
      );
      site.writeConfig();
      expect(readFileSync(site.configPath, 'utf8')).toBe(config);
      await servedMore(site.controlSocket, current, 100);
      const after = await new ControlClient(site.controlSocket).status();
      expect(after.pid).toBe(current);

      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      const measured = stall(batches);
      process.stdout.write(
        `switchyard upgrade x6 under load: ${measured.requests} requests, 0 failed, longest ${measured.longestMs} ms, median ${measured.medianMs} ms\n`,
      );
      // No daemon start in the request path: the old daemon serves until the new one does.
      expect(measured.longestMs).toBeLessThan(5_000);
    }, 240_000);
  },
);

describe.skipIf(phpFpm === undefined)(
  'switchyard upgrade and release switches: one at a time',
  () => {
    it('a deploy is refused while an upgrade runs, and an upgrade while a deploy runs (ERR_BUSY); each then completes', async () => {
      const temp = makeTempDir('upgrade-busy');
      cleanups.push(() => temp.remove());
      const site = await prepareSystemdSite({
        dir: temp.path,
        phpFpm: phpFpm as string,
        warmup: ['/gate.php'],
      });
      const daemons: number[] = [];
      const replicas = new Set<number>();
      const first = spawnDaemon(site.configPath);
      daemons.push(first.pid);
      cleanups.push(async () => {
        for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
        for (const pid of survivors(daemons)) process.kill(pid, 'SIGTERM');
        await gone(daemons, 'every daemon to stop').catch(() => {});
        await killLeftovers([...daemons, ...replicas]);
      });
      await daemonServing(site.controlSocket, first.pid);
      for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
      // The successor's replicas warm up on the serving release: held there.
      const upgradeHeld = holdWarmUp(first as unknown as SwitchyardProcess, site.release);
      const upgrade = startCli(['upgrade', '-c', site.configPath]);
      await upgradeHeld.reached();
      const d1 = site.addRelease('d1', site.release);
      const refusedDeploy = await runSwitchyard(['deploy', d1, '-c', site.configPath]);
      expect(refusedDeploy.code).toBe(1);
      expect(refusedDeploy.stderr).toMatch(/an upgrade is running/);
      upgradeHeld.letGo();
      expect(await upgrade.exited, upgrade.stderr()).toBe(0);
      const successor = Number(/upgraded: pid (\d+) serves/.exec(upgrade.stdout())?.[1]);
      daemons.push(successor);
      await daemonServing(site.controlSocket, successor);
      for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);

      const deployHeld = holdWarmUp(first as unknown as SwitchyardProcess, d1);
      const deploy = startCli(['deploy', d1, '-c', site.configPath]);
      await deployHeld.reached();
      const refusedUpgrade = await runSwitchyard(['upgrade', '-c', site.configPath]);
      expect(refusedUpgrade.code).toBe(1);
      expect(refusedUpgrade.stderr).toMatch(/upgrade refused: a deploy of .* is running/);
      deployHeld.letGo();
      expect(await deploy.exited, deploy.stderr()).toBe(0);
      const status = await new ControlClient(site.controlSocket).status();
      expect(status.pid).toBe(successor);
      expect(status.servingRelease).toBe(d1);
    }, 120_000);
  },
);

describe.skipIf(phpFpm === undefined)('switchyard upgrade --binary', () => {
  it('starts the build named, when it is safe to run as the daemon: one writable by others is refused before anything starts', async () => {
    const temp = makeTempDir('upgrade-binary');
    cleanups.push(() => temp.remove());
    const site = await prepareSystemdSite({ dir: temp.path, phpFpm: phpFpm as string });
    const daemons: number[] = [];
    const replicas = new Set<number>();
    const first = spawnDaemon(site.configPath);
    daemons.push(first.pid);
    cleanups.push(async () => {
      for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
      for (const pid of survivors(daemons)) process.kill(pid, 'SIGTERM');
      await gone(daemons, 'every daemon to stop').catch(() => {});
      await killLeftovers([...daemons, ...replicas]);
    });
    await daemonServing(site.controlSocket, first.pid);
    for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
    // "A new build": this checkout's CLI behind a script of its own.
    const build = join(temp.path, 'bin');
    mkdirSync(build, { mode: 0o755 });
    const binary = join(build, 'switchyard');
    writeFileSync(
      binary,
      `#!/bin/sh\nSWITCHYARD_TEST_BUILD=next exec ${switchyardCommand.map((part) => `'${part}'`).join(' ')} "$@"\n`,
      { mode: 0o755 },
    );
    chmodSync(binary, 0o777);
    const refused = await runSwitchyard(['upgrade', '--binary', binary, '-c', site.configPath]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /upgrade refused: cannot upgrade to .*: it is writable by group or others/,
    );
    expect((await new ControlClient(site.controlSocket).status()).pid).toBe(first.pid);

    chmodSync(binary, 0o755);
    const upgraded = await runSwitchyard(['upgrade', '--binary', binary, '-c', site.configPath]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const successor = Number(/upgraded: pid (\d+) serves/.exec(upgraded.stdout)?.[1]);
    daemons.push(successor);
    await daemonServing(site.controlSocket, successor);
    for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
    // The build named ran: its script marked the environment.
    expect(readFileSync(`/proc/${successor}/environ`, 'utf8').split('\0')).toContain(
      'SWITCHYARD_TEST_BUILD=next',
    );
    await gone([first.pid], 'the old daemon to exit');
  }, 90_000);
});

describe.skipIf(phpFpm === undefined)('a daemon stopped during its upgrade', () => {
  it('stops the new daemon it was starting: neither serves after, no replica is left', async () => {
    const temp = makeTempDir('upgrade-stopped');
    cleanups.push(() => temp.remove());
    const site = await prepareSystemdSite({
      dir: temp.path,
      phpFpm: phpFpm as string,
      warmup: ['/gate.php'],
    });
    const replicas = new Set<number>();
    const first = spawnDaemon(site.configPath);
    cleanups.push(async () => {
      await first.stop();
      await killLeftovers([...replicas]);
    });
    await daemonServing(site.controlSocket, first.pid);
    for (const pid of await replicaPids(site.controlSocket)) replicas.add(pid);
    const held = holdWarmUp(first as unknown as SwitchyardProcess, site.release);
    const upgrade = startCli(['upgrade', '-c', site.configPath]);
    await held.reached();
    const successor = Number(
      /"successor":(\d+),"msg":"new daemon started/.exec(first.stdout())?.[1],
    );
    expect(successor).toBeGreaterThan(0);
    const successorReplicas = (
      await waitFor(
        () => {
          try {
            const children = readFileSync(`/proc/${successor}/task/${successor}/children`, 'utf8');
            return children.trim() === '' ? null : children.trim().split(/\s+/).map(Number);
          } catch {
            return null;
          }
        },
        { timeoutMs: 10_000, what: "the new daemon's replicas" },
      )
    ).filter((pid) => pid > 0);
    for (const pid of successorReplicas) replicas.add(pid);
    first.child.kill('SIGTERM');
    held.letGo();
    expect(await first.exited).toBe(0);
    expect(await upgrade.exited).not.toBe(0);
    await gone([successor, ...successorReplicas], 'the new daemon and its replicas to stop');
    expect(first.stdout()).toContain('stopping during an upgrade: stopping the new daemon too');
  }, 90_000);
});
