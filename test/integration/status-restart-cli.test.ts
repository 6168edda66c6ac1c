import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ControlServer } from '../../src/control/control-server.js';
import {
  daemonStandIn,
  deferred,
  progress,
  ScriptedHandler,
  sampleDeployRecord,
  sampleStatus,
} from '../support/control-fixtures.js';
import { runSwitchyard, startCli } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// The real CLI (through tsx) against a ControlServer in this process, with a scripted handler
// standing in for the daemon. The daemon's own end-to-end tests live elsewhere.

const temp = makeTempDir('cli-ctl');
afterAll(() => temp.remove());

const servers: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A config and a control server with `handler` standing in for the daemon. */
const standIn = (
  handler?: ScriptedHandler,
  options?: { listening?: boolean; extra?: readonly string[] },
) => daemonStandIn(temp.path, servers, handler, options);

describe('switchyard status', () => {
  it('prints the serving release and a row per replica', async () => {
    const { config } = await standIn();
    const result = await runSwitchyard(['status', '-c', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('switchyard 0.1.0  pid 4242  up 2h05m  external replicas');
    expect(lines[1]).toBe('serving  /srv/app/releases/42  (/srv/app/current)');
    expect(result.stdout).toMatch(/^replica-1 +ready +1301 +42 +3 +1 +1 +1520 +0 +3m12s$/m);
    expect(result.stdout).toMatch(/^replica-2 +backing-off +- +41 +0 +0 +0 +1400 +2 +-$/m);
    expect(result.stdout).toContain('replica-1 stuck requests:');
    expect(result.stdout).toContain('replica-2 last error: exited with code 255');
  });

  it('--json prints the daemon’s answer with full release paths', async () => {
    const { config } = await standIn();
    const result = await runSwitchyard(['status', '--json', '--config', config]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(sampleStatus());
  });

  it('shows the last deploy (with its age) and where a rollback would go', async () => {
    const handler = new ScriptedHandler();
    const record = sampleDeployRecord({
      release: '/srv/app/releases/43',
      previous: '/srv/app/releases/42',
      ok: false,
      startedAt: new Date(Date.now() - 185_000).toISOString(),
      durationMs: 8_100,
      message: 'replica-1 on /srv/app/releases/43: exited with code 255\nPHP Parse error: …',
    });
    handler.statusAnswer = () => ({ ...sampleStatus(), lastDeploy: record });
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['status', '-c', config]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[2]).toMatch(
      /^last {5}deploy of 43 {2}failed {2}3m\d\ds ago {2}took 8\.1s {2}replica-1 on \/srv\/app\/releases\/43: exited with code 255$/,
    );
    expect(lines[3]).toBe('rollback /srv/app/releases/41');
    expect(result.stdout).not.toContain('PHP Parse error');

    const json = await runSwitchyard(['status', '--json', '-c', config]);
    expect(JSON.parse(json.stdout).lastDeploy).toEqual(record);
  });

  it('exits 1 with the not-running message when no daemon listens', async () => {
    const { config, socket } = await standIn(undefined, { listening: false });
    const result = await runSwitchyard(['status', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `switchyard: the daemon is not running: no control socket at ${socket} ` +
        '(start it with `systemctl start switchyard` or `switchyard daemon -c <file>`)\n',
    );
  });

  it('exits 78 naming the key for a bad control.socket, and ignores what only the daemon reads', async () => {
    const bad = join(temp.path, 'bad-socket.toml');
    writeFileSync(bad, '[control]\nsocket = "relative.sock"\n');
    const result = await runSwitchyard(['status', '-c', bad]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('switchyard: config error: control.socket: ');

    // Keys only the daemon reads (here a bad control.mode; a pool file the user cannot
    // read) do not stop the CLI from reaching it.
    const { config, socket } = await standIn(undefined, {
      listening: false,
      extra: ['mode = "999"'],
    });
    const status = await runSwitchyard(['status', '-c', config]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`no control socket at ${socket}`);
  });

  it('exits 78 for a config file that cannot be read', async () => {
    const result = await runSwitchyard(['status', '-c', join(temp.path, 'missing.toml')]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('cannot read config file');
  });
});

describe('switchyard restart', () => {
  it('prints each progress line as it arrives, then the duration; exit 0', async () => {
    const handler = new ScriptedHandler();
    const drainingShown = deferred();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'draining', 1234, '3 in flight', '/srv/app/releases/r1'));
      // Blocks until the CLI has printed the line above: it must not wait for the end.
      await drainingShown.promise;
      onEvent(progress('replica-1', 'ready', 1301, '', '/srv/app/releases/r2'));
      onEvent(progress('replica-2', 'ready', 1302, '', '/srv/app/releases/r2'));
      return { kind: 'done', ok: true, message: '2 replicas restarted', durationMs: 12_345 };
    };
    const { config } = await standIn(handler);

    const cli = startCli(['restart', '-c', config]);

    await waitFor(() => cli.stdout().includes('draining'), {
      timeoutMs: 15_000,
      what: `the draining line (stderr: ${cli.stderr()})`,
    });
    expect(cli.stdout()).not.toContain('ready');
    drainingShown.resolve();

    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe('');
    expect(cli.stdout()).toBe(
      [
        'replica-1  draining     pid 1234  r1  3 in flight',
        'replica-1  ready        pid 1301  r2',
        'replica-2  ready        pid 1302  r2',
        'restart done in 12.3s: 2 replicas restarted',
        '',
      ].join('\n'),
    );
    expect(handler.requests).toEqual([{}]);
  });

  it('--replica 2 asks for that replica only', async () => {
    const { config, handler } = await standIn();
    const result = await runSwitchyard(['restart', '-c', config, '--replica', '2']);
    expect(result.code).toBe(0);
    expect(handler.requests).toEqual([{ replica: 2 }]);
    expect(result.stdout).toBe('restart done in 0.0s: nothing to do\n');
  });

  it('exits 1 when the done event says it failed', async () => {
    const handler = new ScriptedHandler();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'failed', null, 'health check: 502 from /fpm-ping'));
      return {
        kind: 'done',
        ok: false,
        message: 'replica-1 failed its health check; the old replica keeps serving',
        durationMs: 3_100,
      };
    };
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['restart', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('replica-1  failed');
    expect(result.stderr).toBe(
      'switchyard: restart failed after 3.1s: replica-1 failed its health check; the old replica keeps serving\n',
    );
  });

  it('exits 1 with the daemon’s message when it refuses (no such replica)', async () => {
    const { config } = await standIn();
    const result = await runSwitchyard(['restart', '-c', config, '--replica', '7']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('switchyard: replica 7 does not exist (2 replicas)\n');
  });

  it('exits 1 when the daemon is not running', async () => {
    const { config, socket } = await standIn(undefined, { listening: false });
    const result = await runSwitchyard(['restart', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the daemon is not running: no control socket at ${socket}`);
  });

  it('--replica must be a positive integer: anything else is a usage error (exit 2)', async () => {
    const values = ['0', '-1', 'two', '1.5', '2x'];
    const results = await Promise.all(
      values.map((value) => runSwitchyard(['restart', '--replica', value])),
    );
    results.forEach((result, index) => {
      expect(result.code, values[index]).toBe(2);
      expect(result.stderr, values[index]).toContain('must be a positive integer');
    });
  });
});
