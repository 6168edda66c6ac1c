import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CodedError } from '../../src/coded-error.js';
import { ControlClient } from '../../src/control/control-client.js';
import type { ControlServer } from '../../src/control/control-server.js';
import {
  daemonStandIn,
  deferred,
  progress,
  ScriptedHandler,
  sampleStatus,
  toggle,
} from '../support/control-fixtures.js';
import { runSwitchyard, startCli } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// `switchyard deploy` and `switchyard rollback`: the real CLI (through tsx) against a
// ControlServer in this process, with a scripted handler standing in for the daemon.

const temp = makeTempDir('cli-dep');
afterAll(() => temp.remove());

const servers: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A config and a control server with `handler` standing in for the daemon. */
const standIn = (handler?: ScriptedHandler, options?: { listening?: boolean }) =>
  daemonStandIn(temp.path, servers, handler, options);

/** A deploy's failure as the daemon reports it: the reason, the worker's output, what it did. */
const FAILURE_MESSAGE = [
  'replica-1 on /srv/app/releases/43: exited with code 255',
  'PHP Parse error:  syntax error, unexpected end of file in /srv/app/releases/43/index.php on line 3',
  '/srv/app/releases/42 kept serving throughout; the symlink was left on /srv/app/releases/42, the serving release',
].join('\n');

describe('switchyard deploy', () => {
  it('prints each progress line and the cut-over as they arrive, then where it went; exit 0', async () => {
    const handler = new ScriptedHandler();
    const cutOverShown = deferred();
    handler.deployScript = async (request, onEvent) => {
      onEvent(progress('replica-1', 'starting', 1501, '', request.target));
      onEvent(progress('replica-1', 'ready', 1501, '', request.target));
      onEvent(toggle(request.target));
      // Blocks until the CLI has printed the cut-over: it must not wait for the end.
      await cutOverShown.promise;
      onEvent(progress('replica-2', 'draining', 1302, '1 in flight'));
      onEvent(progress('replica-2', 'ready', 1502, '', request.target));
      return {
        kind: 'done',
        ok: true,
        message: `switched to ${request.target}`,
        durationMs: 12_345,
      };
    };
    const { config } = await standIn(handler);

    const cli = startCli(['deploy', '/srv/app/releases/43', '-c', config]);
    await waitFor(() => cli.stdout().includes('cut-over'), {
      timeoutMs: 15_000,
      what: `the cut-over line (stderr: ${cli.stderr()})`,
    });
    expect(cli.stdout()).not.toContain('replica-2');
    cutOverShown.resolve();

    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe('');
    expect(cli.stdout()).toBe(
      [
        'replica-1  starting     pid 1501  43',
        'replica-1  ready        pid 1501  43',
        'cut-over  new requests now go to /srv/app/releases/43 (was …/42)',
        'replica-2  draining     pid 1302  42  1 in flight',
        'replica-2  ready        pid 1502  43',
        'deployed /srv/app/releases/43 in 12.3s',
        '',
      ].join('\n'),
    );
    expect(handler.deployRequests).toEqual([{ target: '/srv/app/releases/43' }]);
  });

  it('sends a relative <dir> as an absolute path from the CLI’s cwd, not resolved further', async () => {
    const { dir, config, handler } = await standIn();
    const app = join(dir, 'app');
    mkdirSync(join(app, 'releases', '43'), { recursive: true });
    symlinkSync(join(app, 'releases', '43'), join(app, 'latest'));
    const cwd = realpathSync(app);

    const results = [
      await runSwitchyard(['deploy', 'releases/43', '-c', config], app),
      await runSwitchyard(['deploy', './latest/', '-c', config], app),
      await runSwitchyard(['deploy', '--force', '../app/releases/43', '-c', config], app),
    ];
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    expect(handler.deployRequests).toEqual([
      { target: join(cwd, 'releases', '43') },
      // The symlink is the daemon's to follow (and to judge against release.root).
      { target: join(cwd, 'latest') },
      { target: join(cwd, 'releases', '43'), force: true },
    ]);
    // The final line names the release the cut-over went to.
    expect(results[1]?.stdout).toContain(`\ndeployed ${join(cwd, 'latest')} in `);
  });

  it('a failed deploy prints the reason with the worker’s output indented on stderr; exit 1', async () => {
    const handler = new ScriptedHandler();
    handler.deployScript = async (request, onEvent) => {
      onEvent(progress('replica-1', 'starting', 1501, '', request.target));
      onEvent(progress('replica-1', 'failed', null, 'exited with code 255', request.target));
      onEvent(progress('replica-1', 'ready', 1601, '', '/srv/app/releases/42'));
      return { kind: 'done', ok: false, message: `${FAILURE_MESSAGE}\n`, durationMs: 8_100 };
    };
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['deploy', '/srv/app/releases/43', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      [
        'replica-1  starting     pid 1501  43',
        'replica-1  failed       no pid  43  exited with code 255',
        'replica-1  ready        pid 1601  42',
        '',
      ].join('\n'),
    );
    expect(result.stderr).toBe(
      [
        'switchyard: deploy failed after 8.1s: replica-1 on /srv/app/releases/43: exited with code 255',
        '  PHP Parse error:  syntax error, unexpected end of file in /srv/app/releases/43/index.php on line 3',
        '  /srv/app/releases/42 kept serving throughout; the symlink was left on /srv/app/releases/42, the serving release',
        '',
      ].join('\n'),
    );
  });

  it('a refused target: "deploy refused" with the daemon’s reason, exit 1, nothing printed on stdout', async () => {
    const handler = new ScriptedHandler();
    handler.deployScript = async (request) => {
      throw new CodedError('ERR_DEPLOY_TARGET', `deploy target ${request.target} does not exist`);
    };
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['deploy', '/srv/app/releases/99', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'switchyard: deploy refused: deploy target /srv/app/releases/99 does not exist\n',
    );
  });

  it('a deploy while a restart runs is refused: exit 1', async () => {
    const handler = new ScriptedHandler();
    const release = deferred();
    handler.script = async () => {
      await release.promise;
      return { kind: 'done', ok: true, message: '', durationMs: 1 };
    };
    const { config, socket } = await standIn(handler);
    const restart = new ControlClient(socket).restart({}, () => {});
    await waitFor(() => handler.requests.length === 1, { timeoutMs: 5_000, what: 'the restart' });
    const result = await runSwitchyard(['deploy', '/srv/app/releases/43', '-c', config]);
    release.resolve();
    await restart;
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('switchyard: deploy refused: a restart is already running\n');
  });

  it('an empty or missing <dir> is a usage error (exit 2) and asks the daemon nothing', async () => {
    const { config, handler } = await standIn();
    const empty = await runSwitchyard(['deploy', '', '-c', config]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the release directory is empty');
    const missing = await runSwitchyard(['deploy', '-c', config]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'dir'");
    expect(handler.deployRequests).toEqual([]);
  });

  it('says so when the running daemon is older than the CLI and has no deploy route', async () => {
    const { config, socket } = await standIn(undefined, { listening: false });
    const older = createServer((request, response) => {
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end(
        JSON.stringify({
          error: { code: 'ERR_CONTROL_NOT_FOUND', message: `no such route: ${request.url}` },
        }),
      );
    });
    await new Promise<void>((resolve) => older.listen(socket, resolve));
    try {
      const result = await runSwitchyard(['deploy', '/srv/app/releases/43', '-c', config]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'switchyard: the running daemon does not know `deploy`: it is older than this CLI ' +
          '(restart it to run the installed version)\n',
      );
    } finally {
      older.close();
    }
  });

  it('exits 1 when the daemon is not running', async () => {
    const { config, socket } = await standIn(undefined, { listening: false });
    const result = await runSwitchyard(['deploy', '/srv/app/releases/43', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the daemon is not running: no control socket at ${socket}`);
  });
});

describe('switchyard rollback', () => {
  it('prints the cut-over and where it went back to; exit 0', async () => {
    const handler = new ScriptedHandler();
    handler.rollbackScript = async (onEvent) => {
      onEvent(progress('replica-1', 'ready', 1701, '', '/srv/app/releases/41'));
      onEvent(toggle('/srv/app/releases/41'));
      return {
        kind: 'done',
        ok: true,
        message: 'switched to /srv/app/releases/41',
        durationMs: 3_200,
      };
    };
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['rollback', '-c', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'replica-1  ready        pid 1701  41',
        'cut-over  new requests now go to /srv/app/releases/41 (was …/42)',
        'rolled back to /srv/app/releases/41 in 3.2s',
        '',
      ].join('\n'),
    );
    expect(handler.rollbackRequests).toEqual([{}]);
  });

  it('with nothing to roll back to: "rollback refused", exit 1', async () => {
    const handler = new ScriptedHandler();
    handler.statusAnswer = () => ({ ...sampleStatus(), rollbackTarget: null });
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['rollback', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'switchyard: rollback refused: there is no earlier release to roll back to\n',
    );
  });

  it('a failed rollback prints why on stderr; exit 1', async () => {
    const handler = new ScriptedHandler();
    handler.rollbackScript = async () => ({
      kind: 'done',
      ok: false,
      message: 'replica-1 on /srv/app/releases/41: health check: 502\nstill broken',
      durationMs: 4_000,
    });
    const { config } = await standIn(handler);
    const result = await runSwitchyard(['rollback', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'switchyard: rollback failed after 4.0s: replica-1 on /srv/app/releases/41: health check: 502\n' +
        '  still broken\n',
    );
  });
});
