import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CodedError } from '../../src/coded-error.js';
import { isConfigError } from '../../src/config/config-error.js';
import type {
  OperationProgressEvent,
  RestartProgressEvent,
} from '../../src/control/control-client.js';
import { ControlClient } from '../../src/control/control-client.js';
import { ControlError } from '../../src/control/control-error.js';
import { ControlServer } from '../../src/control/control-server.js';
import { silentLogger } from '../../src/log.js';
import {
  type Deferred,
  deferred,
  progress,
  ScriptedHandler,
  sampleStatus,
  toggle,
  writeControlConfig,
} from '../support/control-fixtures.js';
import { repoRoot } from '../support/repo-root.js';
import { staleSocket } from '../support/stale-socket.js';
import { runSwitchyard, switchyardCommand } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const temp = makeTempDir('ctl');
afterAll(() => temp.remove());

const servers: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

let socketCount = 0;
function socketPath(): string {
  socketCount += 1;
  return join(temp.path, `c${socketCount}.sock`);
}

async function startServer(
  handler = new ScriptedHandler(),
  options: { socket?: string; mode?: number; group?: string | null; logger?: Logger } = {},
): Promise<{ server: ControlServer; handler: ScriptedHandler; client: ControlClient }> {
  const socket = options.socket ?? socketPath();
  const server = await ControlServer.start(
    { socket, mode: options.mode ?? 0o600, group: options.group ?? null },
    handler,
    options.logger ?? silentLogger(),
  );
  servers.push(server);
  return { server, handler, client: new ControlClient(socket) };
}

/** A logger that keeps its messages, for waiting on what the server noticed. */
function capturingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), messages };
}

/** One raw HTTP exchange on the socket, for requests the client never sends. */
function rawRequest(
  socket: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ socketPath: socket, method, path, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
      );
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A handler whose restarts run until `release` is resolved, then succeed. */
function heldRestarts(): { handler: ScriptedHandler; release: Deferred<void> } {
  const handler = new ScriptedHandler();
  const release = deferred();
  handler.script = async () => {
    await release.promise;
    return { kind: 'done', ok: true, message: '', durationMs: 1 };
  };
  return { handler, release };
}

async function rejection(promise: Promise<unknown>): Promise<ControlError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ControlError);
  return error as ControlError;
}

describe('control socket: status and restart round trips', () => {
  it('answers status with the handler’s DaemonStatus', async () => {
    const { client } = await startServer();
    expect(await client.status()).toEqual(sampleStatus());
  });

  it('streams restart progress: each event reaches the client before the next is made', async () => {
    const handler = new ScriptedHandler();
    const firstSeen = deferred();
    const secondSeen = deferred();
    handler.script = async (request, onEvent) => {
      onEvent(progress('replica-1', 'draining', 1301, '3 in flight'));
      await firstSeen.promise;
      onEvent(progress('replica-1', 'ready', 1401, ''));
      await secondSeen.promise;
      return { kind: 'done', ok: true, message: `restarted ${request.replica}`, durationMs: 42 };
    };
    const { client } = await startServer(handler);

    const received: RestartProgressEvent[] = [];
    let settled = false;
    const restart = client
      .restart({ replica: 1 }, (event) => received.push(event))
      .finally(() => {
        settled = true;
      });

    // The handler is blocked on `firstSeen`: the event can only have arrived by streaming.
    await waitFor(() => received.length === 1, { timeoutMs: 5_000, what: 'the first event' });
    expect(received[0]).toEqual(progress('replica-1', 'draining', 1301, '3 in flight'));
    firstSeen.resolve();
    await waitFor(() => received.length === 2, { timeoutMs: 5_000, what: 'the second event' });
    expect(received[1]).toMatchObject({ kind: 'replica', state: 'ready' });
    expect(settled).toBe(false);
    secondSeen.resolve();

    expect(await restart).toEqual({
      kind: 'done',
      ok: true,
      message: 'restarted 1',
      durationMs: 42,
    });
    expect(handler.requests).toEqual([{ replica: 1 }]);
  });

  it('sends the stream as NDJSON, one event per line, ending with done', async () => {
    const handler = new ScriptedHandler();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'draining', 1, 'a'));
      onEvent(progress('replica-2', 'draining', 2, 'b'));
      return { kind: 'done', ok: false, message: 'replica-2 failed', durationMs: 5 };
    };
    const { server } = await startServer(handler);
    const answer = await rawRequest(server.socketPath, 'POST', '/v1/restart', '{}');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/x-ndjson');
    const lines = answer.body.trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line).kind)).toEqual(['replica', 'replica', 'done']);
    expect(JSON.parse(lines[2] ?? '')).toMatchObject({ ok: false, message: 'replica-2 failed' });
  });

  it('turns a handler that fails mid-stream into a failed done event', async () => {
    const handler = new ScriptedHandler();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'stopping', 1, ''));
      throw new Error('php-fpm would not start');
    };
    const { client } = await startServer(handler);
    const events: RestartProgressEvent[] = [];
    const done = await client.restart({}, (event) => events.push(event));
    expect(events).toHaveLength(1);
    expect(done).toMatchObject({ kind: 'done', ok: false });
    expect(done.message).toContain('php-fpm would not start');
  });
});

describe('control socket: deploy and rollback', () => {
  it('streams a deploy: replica lines and the cut-over, each as it happens, then done', async () => {
    const handler = new ScriptedHandler();
    const toggled = deferred();
    handler.deployScript = async (request, onEvent) => {
      onEvent(progress('replica-1', 'starting', 1501, '', request.target));
      onEvent(toggle(request.target));
      await toggled.promise;
      onEvent(progress('replica-2', 'ready', 1502, '', request.target));
      return { kind: 'done', ok: true, message: `switched to ${request.target}`, durationMs: 9 };
    };
    const { client } = await startServer(handler);

    const events: OperationProgressEvent[] = [];
    const deploy = client.deploy({ target: '/srv/app/releases/43', force: true }, (event) =>
      events.push(event),
    );
    // The handler waits after the cut-over: the toggle can only have arrived by streaming.
    await waitFor(() => events.length === 2, { timeoutMs: 5_000, what: 'the cut-over' });
    expect(events[1]).toEqual(toggle('/srv/app/releases/43'));
    toggled.resolve();
    expect(await deploy).toEqual({
      kind: 'done',
      ok: true,
      message: 'switched to /srv/app/releases/43',
      durationMs: 9,
    });
    expect(events.map((event) => event.kind)).toEqual(['replica', 'toggle', 'replica']);
    expect(handler.deployRequests).toEqual([{ target: '/srv/app/releases/43', force: true }]);
  });

  it('sends a deploy as NDJSON ending with done, and leaves force out unless asked', async () => {
    const { server, handler, client } = await startServer();
    const answer = await rawRequest(
      server.socketPath,
      'POST',
      '/v1/deploy',
      '{"target": "/srv/app/releases/43"}',
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/x-ndjson');
    const lines = answer.body.trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line).kind)).toEqual(['toggle', 'done']);
    expect(JSON.parse(lines[0] ?? '')).toEqual(toggle('/srv/app/releases/43'));

    await client.deploy({ target: '/srv/app/releases/44' }, () => {});
    expect(handler.deployRequests).toEqual([
      { target: '/srv/app/releases/43' },
      { target: '/srv/app/releases/44' },
    ]);
  });

  it('a refused deploy target is a 422 with ERR_DEPLOY_TARGET and its message', async () => {
    const handler = new ScriptedHandler();
    handler.deployScript = async (request) => {
      throw new CodedError('ERR_DEPLOY_TARGET', `deploy target ${request.target} does not exist`);
    };
    const { client, server } = await startServer(handler);
    const error = await rejection(client.deploy({ target: '/srv/app/releases/99' }, () => {}));
    expect(error).toMatchObject({ code: 'ERR_DEPLOY_TARGET', status: 422 });
    expect(error.message).toBe('deploy target /srv/app/releases/99 does not exist');

    const raw = await rawRequest(server.socketPath, 'POST', '/v1/deploy', '{"target": "/nope"}');
    expect(raw.status).toBe(422);
    expect(raw.headers['content-type']).toBe('application/json');
    expect(JSON.parse(raw.body)).toEqual({
      error: { code: 'ERR_DEPLOY_TARGET', message: 'deploy target /nope does not exist' },
    });
  });

  it('a deploy while a restart runs is refused with ERR_BUSY (409)', async () => {
    const { handler, release } = heldRestarts();
    const { client } = await startServer(handler);
    const restart = client.restart({}, () => {});
    await waitFor(() => handler.requests.length === 1, { timeoutMs: 5_000, what: 'the restart' });
    const busy = await rejection(client.deploy({ target: '/srv/app/releases/43' }, () => {}));
    expect(busy).toMatchObject({ code: 'ERR_BUSY', status: 409 });
    expect(busy.message).toBe('a restart is already running');
    release.resolve();
    expect((await restart).ok).toBe(true);
  });

  it('a deploy that fails after its first event ends with a failed done event', async () => {
    const handler = new ScriptedHandler();
    handler.deployScript = async (request, onEvent) => {
      onEvent(progress('replica-1', 'starting', 1, '', request.target));
      throw new Error('setRelease exploded');
    };
    const { client } = await startServer(handler);
    const done = await client.deploy({ target: '/srv/app/releases/43' }, () => {});
    expect(done).toMatchObject({ kind: 'done', ok: false });
    expect(done.message).toBe('deploy failed: setRelease exploded');
  });

  it('streams a rollback to the rollback target', async () => {
    const { client, handler } = await startServer();
    const events: OperationProgressEvent[] = [];
    const done = await client.rollback((event) => events.push(event));
    expect(done.ok).toBe(true);
    expect(events).toEqual([toggle('/srv/app/releases/41')]);
    expect(handler.rollbackRequests).toEqual([{}]);
  });

  it('a rollback with nowhere to go is a 409 with ERR_NO_ROLLBACK_TARGET', async () => {
    const handler = new ScriptedHandler();
    handler.statusAnswer = () => ({ ...sampleStatus(), rollbackTarget: null });
    const { client } = await startServer(handler);
    const error = await rejection(client.rollback(() => {}));
    expect(error).toMatchObject({ code: 'ERR_NO_ROLLBACK_TARGET', status: 409 });
    expect(error.message).toBe('there is no earlier release to roll back to');
  });

  it('accepts an empty rollback body', async () => {
    const { server, handler } = await startServer();
    const answer = await rawRequest(server.socketPath, 'POST', '/v1/rollback');
    expect(answer.status).toBe(200);
    expect(handler.rollbackRequests).toEqual([{}]);
  });

  it('deploy and rollback are POST only (405 with Allow: POST)', async () => {
    const { server } = await startServer();
    for (const route of ['/v1/deploy', '/v1/rollback']) {
      const answer = await rawRequest(server.socketPath, 'GET', route);
      expect(answer.status, route).toBe(405);
      expect(answer.headers.allow, route).toBe('POST');
    }
  });

  it('a restart passes on replica lines only: a stray cut-over line is left out', async () => {
    const handler = new ScriptedHandler();
    handler.script = async (_request, onEvent) => {
      onEvent(toggle('/srv/app/releases/43'));
      onEvent(progress('replica-1', 'ready', 1, ''));
      return { kind: 'done', ok: true, message: '', durationMs: 1 };
    };
    const { client } = await startServer(handler);
    const events: RestartProgressEvent[] = [];
    expect((await client.restart({}, (event) => events.push(event))).ok).toBe(true);
    expect(events).toEqual([progress('replica-1', 'ready', 1, '')]);
  });
});

describe('control socket: the socket file', () => {
  it('applies the configured mode and creates a missing parent directory', async () => {
    const socket = join(temp.path, 'run', 'deeper', 'control.sock');
    await startServer(undefined, { socket, mode: 0o640 });
    const stat = statSync(socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o640);
  });

  it('leaves the process umask as it found it', async () => {
    const before = process.umask(0o027);
    try {
      await startServer();
      expect(process.umask(0o027)).toBe(0o027);
    } finally {
      process.umask(before);
    }
  });

  it.runIf(process.getuid?.() === 0)('gives the socket to control.group (as root)', async () => {
    const socket = socketPath();
    await startServer(undefined, { socket, mode: 0o660, group: groupNameOf(65534) });
    expect(statSync(socket).gid).toBe(65534);
  });

  it('refuses an unknown control.group as a config error naming the key', async () => {
    const error = await ControlServer.start(
      { socket: socketPath(), mode: 0o660, group: 'no-such-group-sy' },
      new ScriptedHandler(),
      silentLogger(),
    ).catch((reason: unknown) => reason);
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toMatch(/^control\.group: unknown group "no-such-group-sy"/);
  });

  it('replaces a stale socket a dead daemon left', async () => {
    const socket = socketPath();
    await staleSocket(socket);
    const { client } = await startServer(undefined, { socket });
    expect((await client.status()).pid).toBe(4242);
  });

  it('refuses a socket another daemon answers on, naming its pid, and leaves it serving', async () => {
    const { server, client } = await startServer();
    const error = await rejection(
      ControlServer.start(
        { socket: server.socketPath, mode: 0o600, group: null },
        new ScriptedHandler(),
        silentLogger(),
      ),
    );
    expect(error.code).toBe('ERR_CONTROL_SOCKET_IN_USE');
    expect(error.message).toContain(`another switchyard daemon (pid 4242) answers on`);
    expect((await client.status()).pid).toBe(4242);
  });

  it('never deletes a path that is not a socket', async () => {
    const path = join(temp.path, 'precious.txt');
    writeFileSync(path, 'keep me');
    const error = await rejection(
      ControlServer.start(
        { socket: path, mode: 0o600, group: null },
        new ScriptedHandler(),
        silentLogger(),
      ),
    );
    expect(error.code).toBe('ERR_CONTROL_LISTEN');
    expect(error.message).toContain('is not a socket');
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('close() stops listening and removes the socket file', async () => {
    const { server, client } = await startServer();
    await server.close();
    expect(() => statSync(server.socketPath)).toThrow(/ENOENT/);
    expect((await rejection(client.status())).code).toBe('ERR_DAEMON_NOT_RUNNING');
  });
});

describe('control client: errors', () => {
  it('no socket (ENOENT): switchyard is not running, and how to start it', async () => {
    const socket = join(temp.path, 'nothing-here.sock');
    const error = await rejection(new ControlClient(socket).status());
    expect(error.code).toBe('ERR_DAEMON_NOT_RUNNING');
    expect(error.message).toBe(
      `the daemon is not running: no control socket at ${socket} ` +
        '(start it with `systemctl start switchyard` or `switchyard daemon -c <file>`)',
    );
  });

  it('a stale socket (ECONNREFUSED): not running either', async () => {
    const socket = socketPath();
    await staleSocket(socket);
    const error = await rejection(new ControlClient(socket).restart({}, () => {}));
    expect(error.code).toBe('ERR_DAEMON_NOT_RUNNING');
    expect(error.message).toContain(
      `the daemon is not running: nothing listens on the control socket ${socket}`,
    );
  });

  it('a refused restart carries the daemon’s code and message', async () => {
    const { handler, release } = heldRestarts();
    const { client } = await startServer(handler);
    const missing = await rejection(client.restart({ replica: 7 }, () => {}));
    expect(missing).toMatchObject({ code: 'ERR_NO_SUCH_REPLICA', status: 404 });
    expect(missing.message).toBe('replica 7 does not exist (2 replicas)');

    const first = client.restart({}, () => {});
    await waitFor(() => handler.requests.length === 2, { timeoutMs: 5_000, what: 'the restart' });
    const busy = await rejection(client.restart({}, () => {}));
    expect(busy).toMatchObject({ code: 'ERR_BUSY', status: 409 });
    expect(busy.message).toBe('a restart is already running');

    release.resolve();
    expect((await first).ok).toBe(true);
  });

  it('a handler bug becomes a 500 with its message, and the server keeps serving', async () => {
    const handler = new ScriptedHandler();
    handler.statusAnswer = () => {
      throw new TypeError('replicas is undefined');
    };
    const { client } = await startServer(handler);
    const error = await rejection(client.status());
    expect(error).toMatchObject({ code: 'ERR_CONTROL_INTERNAL', status: 500 });
    expect(error.message).toContain('replicas is undefined');
    handler.statusAnswer = sampleStatus;
    expect(await client.status()).toEqual(sampleStatus());
  });

  it('a process that is not switchyard on the socket is a protocol error', async () => {
    const socket = socketPath();
    const { createServer } = await import('node:http');
    const other = createServer((_request, response) => response.end('hello'));
    await new Promise<void>((resolve) => other.listen(socket, resolve));
    try {
      const error = await rejection(new ControlClient(socket).status());
      expect(error.code).toBe('ERR_CONTROL_PROTOCOL');
    } finally {
      other.close();
    }
  });
});

describe('control server: bad clients cost only their own request', () => {
  it('answers malformed JSON with 400, then serves the next client', async () => {
    const { server, client, handler } = await startServer();
    const answer = await rawRequest(server.socketPath, 'POST', '/v1/restart', '{"replica": ');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.code).toBe('ERR_CONTROL_BAD_REQUEST');
    expect(JSON.parse(answer.body).error.message).toContain('not JSON');
    expect(handler.requests).toEqual([]);
    expect((await client.status()).pid).toBe(4242);
  });

  it.each([
    ['deploy', '', 'a deploy needs a body'],
    ['deploy', '{}', 'target is missing'],
    ['deploy', '[]', 'must be a JSON object'],
    ['deploy', '{"target": ', 'not JSON'],
    ['deploy', '{"target": ""}', 'target must be a non-empty string'],
    ['deploy', '{"target": 43}', 'target must be a non-empty string'],
    ['deploy', '{"target": null}', 'target must be a non-empty string'],
    ['deploy', '{"target": "releases/43"}', 'target must be an absolute path, got "releases/43"'],
    ['deploy', '{"target": "/srv/a\\u0000b"}', 'must not contain a NUL byte'],
    ['deploy', '{"target": "/srv/app/releases/43", "force": "yes"}', 'force must be true or false'],
    ['deploy', '{"target": "/srv/app/releases/43", "forced": true}', 'unknown field "forced"'],
    ['rollback', '{"to": "/srv/app/releases/41"}', 'unknown field "to"; known fields: none'],
    ['rollback', '[]', 'must be a JSON object'],
    ['rollback', 'nope', 'not JSON'],
    ['restart', '[1]', 'must be a JSON object'],
    ['restart', '{"replica": 0}', 'replica must be a positive integer'],
    ['restart', '{"replica": "2"}', 'replica must be a positive integer'],
    ['restart', '{"replica": 1.5}', 'replica must be a positive integer'],
    ['restart', '{"replicas": 2}', 'unknown field "replicas"'],
  ])('refuses the %s body %s with 400', async (operation, body, message) => {
    const { server, handler } = await startServer();
    const answer = await rawRequest(server.socketPath, 'POST', `/v1/${operation}`, body);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.code).toBe('ERR_CONTROL_BAD_REQUEST');
    expect(JSON.parse(answer.body).error.message).toContain(message);
    expect(handler.deployRequests).toEqual([]);
    expect(handler.rollbackRequests).toEqual([]);
    expect(handler.requests).toEqual([]);
  });

  it('answers an unknown route with 404 and a wrong method with 405', async () => {
    const { server } = await startServer();
    const notFound = await rawRequest(server.socketPath, 'GET', '/v2/status');
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body).error.code).toBe('ERR_CONTROL_NOT_FOUND');
    const wrongMethod = await rawRequest(server.socketPath, 'POST', '/v1/status', '{}');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET');
    expect(JSON.parse(wrongMethod.body).error.code).toBe('ERR_CONTROL_METHOD');
    const restartByGet = await rawRequest(server.socketPath, 'GET', '/v1/restart');
    expect(restartByGet.status).toBe(405);
    expect(restartByGet.headers.allow).toBe('POST');
  });

  it('refuses an oversized body with 413', async () => {
    const { server } = await startServer();
    const answer = await rawRequest(server.socketPath, 'POST', '/v1/restart', ' '.repeat(70_000));
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('ERR_CONTROL_BODY_TOO_LARGE');
  });

  it('survives bytes that are not HTTP, and a client that hangs up mid-request', async () => {
    const { server, client } = await startServer();
    const garbage = connect(server.socketPath);
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      garbage.on('data', (chunk) => {
        text += chunk.toString();
      });
      garbage.on('close', () => resolve(text));
      garbage.on('error', () => {});
      garbage.write('\x00\x01\x02 definitely not http\r\n\r\n');
    });
    expect(reply).toContain('400 Bad Request');

    const halfway = connect(server.socketPath);
    await new Promise<void>((resolve) => halfway.once('connect', resolve));
    halfway.write('POST /v1/restart HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"repl');
    halfway.destroy();

    expect((await client.status()).pid).toBe(4242);
  });

  it('a client that leaves mid-restart does not stop the restart', async () => {
    const handler = new ScriptedHandler();
    const goOn = deferred();
    const finished = deferred<boolean>();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'draining', 1, ''));
      await goOn.promise;
      onEvent(progress('replica-1', 'ready', 2, ''));
      finished.resolve(true);
      return { kind: 'done', ok: true, message: '', durationMs: 1 };
    };
    const { logger, messages } = capturingLogger();
    const { client, server } = await startServer(handler, { logger });
    const leaving = connect(server.socketPath);
    leaving.on('error', () => {});
    const firstLine = new Promise<void>((resolve) => leaving.once('data', () => resolve()));
    leaving.write('POST /v1/restart HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    await firstLine;
    leaving.destroy();
    await waitFor(() => messages.some((message) => message.includes('client left')), {
      timeoutMs: 5_000,
      what: 'the server to notice the client left',
    });
    goOn.resolve();
    expect(await finished.promise).toBe(true);
    expect((await client.status()).pid).toBe(4242);
  });
});

// ---------------------------------------------------------------------------------------
// Permission: a client whose credentials do not allow writing to the socket is refused by
// the kernel (EACCES), and the CLI says so. Root bypasses file modes, so as root the real
// CLI runs under other credentials; which ones depends on what this machine allows.

interface Outsider {
  /** Says who the client runs as, for the test name. */
  readonly who: string;
  /** Runs before the command: argv prefix (setpriv …) or nothing. */
  readonly prefix: readonly string[];
  /** Mode the refused client meets; a mode (and group) that lets it in, as a control. */
  readonly deniedMode: number;
  readonly allowed: { readonly mode: number; readonly group: string | null };
  /** Adjusts the socket after the server made it (ownership), and the temp dir's access. */
  prepare(socket: string): void;
}

const SETPRIV_AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const SETPRIV_ROOT_WITHOUT_DAC = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'];

function groupNameOf(gid: number): string {
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[2] === String(gid));
  return line?.split(':')[0] ?? String(gid);
}

/** Whether `prefix` can run the real CLI here (`--version` exits 0). */
function canRunCli(prefix: readonly string[]): { ok: boolean; output: string } {
  const [command, ...args] = [...prefix, ...switchyardCommand] as [string, ...string[]];
  const result = spawnSync(command, [...args, '--version'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.error ?? ''}`.trim() };
}

function chooseOutsider(): Outsider | string {
  if (process.getuid?.() !== 0) {
    // Not root: the only client we can start is the socket's owner, so the refused mode is
    // one that leaves the owner out. The kernel check and the CLI's answer are the same.
    return {
      who: 'the socket owner, not root, with a mode that leaves the owner out',
      prefix: [],
      deniedMode: 0o060,
      allowed: { mode: 0o600, group: null },
      prepare: () => {},
    };
  }
  const asNobody = canRunCli(SETPRIV_AS_NOBODY);
  if (asNobody.ok) {
    return {
      who: 'user nobody (65534)',
      prefix: SETPRIV_AS_NOBODY,
      deniedMode: 0o600,
      // The control also shows control.group at work: nobody's group may connect.
      allowed: { mode: 0o660, group: groupNameOf(65534) },
      prepare: () => {
        // mkdtemp made it 0700: let nobody reach the socket and read the config.
        chmodSync(temp.path, 0o755);
      },
    };
  }
  process.stderr.write(
    `\n*** control socket permission test: user nobody cannot run the CLI from ${repoRoot} ` +
      `(is a parent directory, such as /root, closed to others?): ${asNobody.output.split('\n')[0]}. ` +
      'Falling back to root without CAP_DAC_OVERRIDE against a socket owned by nobody. ***\n\n',
  );
  const withoutDac = canRunCli(SETPRIV_ROOT_WITHOUT_DAC);
  if (withoutDac.ok) {
    return {
      who: 'root without CAP_DAC_OVERRIDE, the socket owned by nobody',
      prefix: SETPRIV_ROOT_WITHOUT_DAC,
      deniedMode: 0o600,
      allowed: { mode: 0o606, group: null },
      prepare: (socket) => chownSync(socket, 65534, 65534),
    };
  }
  return `setpriv cannot drop capabilities here (${withoutDac.output.split('\n')[0]})`;
}

const outsider = chooseOutsider();
if (typeof outsider === 'string') {
  const message = `control socket permission test cannot run: ${outsider}`;
  // CI runs as root on Debian, where util-linux's setpriv can always drop capabilities.
  if (process.env.CI) throw new Error(`${message} (CI is set, so this is a failure, not a skip)`);
  process.stderr.write(`\n*** SKIPPING ${message} ***\n\n`);
}

describe.skipIf(typeof outsider === 'string')('control socket permission', () => {
  const who = typeof outsider === 'string' ? '' : outsider.who;

  async function attempt(mode: number, group: string | null) {
    const chosen = outsider as Outsider;
    const dir = join(temp.path, `perm-${mode.toString(8)}`);
    const socket = join(dir, 'control.sock');
    const config = writeControlConfig(dir, socket);
    chmodSync(dir, 0o755);
    chmodSync(config, 0o644);
    await startServer(undefined, { socket, mode, group });
    chosen.prepare(socket);
    return runSwitchyard(['status', '-c', config], repoRoot, chosen.prefix);
  }

  it(`refuses a client without permission (${who}): permission denied, exit 1`, async () => {
    const chosen = outsider as Outsider;
    const result = await attempt(chosen.deniedMode, null);
    expect(result.stderr).toContain('permission denied on ');
    expect(result.stderr).toContain(
      "control.sock: run as root or as a member of the socket's group (control.group)",
    );
    expect(result.code).toBe(1);
  });

  it(`lets the same client in when the mode allows it (${who}): the harness is sound`, async () => {
    const chosen = outsider as Outsider;
    const result = await attempt(chosen.allowed.mode, chosen.allowed.group);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('replica-1');
    expect(result.code).toBe(0);
  });
});
