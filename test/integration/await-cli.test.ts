import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/control-client.js';
import type { ControlServer } from '../../src/control/control-server.js';
import {
  daemonStandIn,
  deferred,
  progress,
  ScriptedHandler,
  toggle,
} from '../support/control-fixtures.js';
import { runSwitchyard, startCli } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// `switchyard await`: the real CLI (through tsx) against a ControlServer in this process, with
// a scripted handler standing in for the daemon. What the daemon decides is tested against a
// real one in await-deploy-tools.test.ts; here, what the CLI sends, prints and exits with.

const temp = makeTempDir('cli-await');
afterAll(() => temp.remove());

const servers: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const standIn = (handler?: ScriptedHandler) => daemonStandIn(temp.path, servers, handler);

describe('switchyard await', () => {
  it('prints the switch’s progress as it arrives, then that every replica serves it; exit 0', async () => {
    const handler = new ScriptedHandler();
    const shown = deferred();
    handler.awaitScript = async (request, onEvent) => {
      const release = request.release ?? '';
      onEvent(progress('replica-1', 'ready', 1501, '', release));
      onEvent(toggle(release));
      await shown.promise;
      return {
        kind: 'done',
        ok: true,
        message: `every replica serves ${release}`,
        durationMs: 4_200,
      };
    };
    const { config, dir } = await standIn(handler);
    mkdirSync(join(dir, 'app', 'releases', '43'), { recursive: true });
    const cwd = realpathSync(join(dir, 'app'));

    const cli = startCli(['await', '--release', 'releases/43', '-c', config], cwd);
    await waitFor(() => cli.stdout().includes('cut-over'), {
      timeoutMs: 15_000,
      what: `the cut-over line (stderr: ${cli.stderr()})`,
    });
    shown.resolve();
    expect(await cli.exited).toBe(0);
    const release = join(cwd, 'releases', '43');
    expect(cli.stdout()).toBe(
      [
        'replica-1  ready        pid 1501  43',
        `cut-over  new requests now go to ${release} (was /srv/app/releases/42)`,
        `every replica serves ${release} (waited 4.2s)`,
        '',
      ].join('\n'),
    );
    // A relative --release is made absolute from the CLI's cwd; the timeout is 120 s unless told.
    expect(handler.awaitRequests).toEqual([{ release, timeoutMs: 120_000 }]);
  });

  it('a failure: the daemon’s reason with its further lines indented on stderr; exit 1', async () => {
    const handler = new ScriptedHandler();
    handler.awaitScript = async () => ({
      kind: 'done',
      ok: false,
      message:
        'replica-1 on /srv/app/releases/44: warm-up GET /index.php answered 500\n' +
        '/srv/app/releases/43 kept serving throughout; the symlink points at /srv/app/releases/43 again',
      durationMs: 1_900,
    });
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['await', '--timeout', '5m', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'switchyard: await failed after 1.9s: replica-1 on /srv/app/releases/44: warm-up GET /index.php answered 500',
        '  /srv/app/releases/43 kept serving throughout; the symlink points at /srv/app/releases/43 again',
        '',
      ].join('\n'),
    );
    expect(handler.awaitRequests).toEqual([{ timeoutMs: 300_000 }]);
  });

  it('a bad --timeout or an empty --release is a usage error (exit 2) and asks the daemon nothing', async () => {
    const { config, handler } = await standIn();
    for (const args of [
      ['--timeout', '90'],
      ['--timeout', '0'],
      ['--timeout', '2h'],
      ['--release', ''],
    ]) {
      const result = await runSwitchyard(['await', ...args, '-c', config]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
    }
    expect(handler.awaitRequests).toEqual([]);
  });

  it('the daemon refuses a timeout out of range, a relative release and unknown fields', async () => {
    const { socket } = await standIn();
    const client = new ControlClient(socket);
    for (const body of [
      { timeoutMs: 0 },
      { timeoutMs: 3_600_001 },
      { timeoutMs: 1_000, release: 'releases/43' },
    ]) {
      await expect(client.awaitRelease(body, () => {})).rejects.toMatchObject({
        code: 'ERR_CONTROL_BAD_REQUEST',
      });
    }
  });
});
