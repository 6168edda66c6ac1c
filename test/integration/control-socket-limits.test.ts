import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ControlConnectionLimits } from '../../src/control/connection-guard.js';
import type { RestartProgressEvent } from '../../src/control/control-client.js';
import { ControlClient } from '../../src/control/control-client.js';
import { ControlServer } from '../../src/control/control-server.js';
import { silentLogger } from '../../src/log.js';
import { daemonStandIn, deferred, progress, ScriptedHandler } from '../support/control-fixtures.js';
import { runSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// Idle and slow clients on the control socket: the CLI must get in, and the daemon must not
// cut what it streams. Real sockets against a ControlServer in this process.

const temp = makeTempDir('ctl-lim');
afterAll(() => temp.remove());

const servers: ControlServer[] = [];
const clients: Socket[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const timer of timers.splice(0)) clearInterval(timer);
  for (const socket of clients.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Short deadlines, so a test sees them pass; the defaults are seconds. */
const SHORT: ControlConnectionLimits = {
  maxConnections: 64,
  headersTimeoutMs: 300,
  bodyTimeoutMs: 300,
  keepAliveTimeoutMs: 300,
};

let count = 0;
async function startServer(
  limits: ControlConnectionLimits,
  handler = new ScriptedHandler(),
): Promise<{ socket: string; client: ControlClient }> {
  count += 1;
  const socket = join(temp.path, `l${count}.sock`);
  servers.push(
    await ControlServer.start(
      { socket, mode: 0o600, group: null },
      handler,
      silentLogger(),
      limits,
    ),
  );
  return { socket, client: new ControlClient(socket, { timeoutMs: 5_000 }) };
}

/** A raw connection, with a flag set when the server closes it. */
async function open(socket: string): Promise<{ socket: Socket; closed: () => boolean }> {
  const raw = connect(socket);
  clients.push(raw);
  let closed = false;
  raw.on('error', () => {});
  raw.on('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  return { socket: raw, closed: () => closed };
}

/** A slow-loris client: a request line, then one header byte every `everyMs`, never ending. */
async function slowLoris(
  socket: string,
  everyMs: number,
): Promise<{ socket: Socket; closed: () => boolean }> {
  const connection = await open(socket);
  connection.socket.write('GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  timers.push(
    setInterval(() => {
      if (!connection.socket.destroyed) connection.socket.write('a');
    }, everyMs),
  );
  return connection;
}

describe('control socket under idle and slow clients', () => {
  it('`switchyard status` answers while 64 idle and 64 slow-loris connections are open', async () => {
    // The shipped limits: the newcomer gets in by closing the longest-waiting connection.
    const { config, socket } = await daemonStandIn(temp.path, servers);
    const idle = [];
    for (let index = 0; index < 64; index += 1) idle.push(await open(socket));
    const loris = [];
    for (let index = 0; index < 64; index += 1) loris.push(await slowLoris(socket, 200));

    const result = await runSwitchyard(['status', '-c', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('pid 4242');
    // The oldest made room for the newer ones and the CLI: it got in while slow clients were
    // still connected, not by waiting for their deadlines.
    expect(idle[0]?.closed()).toBe(true);
    expect(loris.filter((connection) => !connection.closed()).length).toBeGreaterThan(0);
  });

  it('closes a connection that sends nothing, trickles its headers or body, or idles after an answer', async () => {
    const { socket, client } = await startServer(SHORT);
    const silent = await open(socket);
    const loris = await slowLoris(socket, 50);
    const slowBody = await open(socket);
    slowBody.socket.write(
      'POST /v1/restart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    timers.push(setInterval(() => slowBody.socket.write(' '), 50));
    const keptAlive = await open(socket);
    const answered = new Promise<void>((resolve) => keptAlive.socket.once('data', () => resolve()));
    keptAlive.socket.write('GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n');
    await answered;

    for (const [what, connection] of [
      ['silent', silent],
      ['slow-loris', loris],
      ['slow body', slowBody],
      ['kept-alive', keptAlive],
    ] as const) {
      await waitFor(connection.closed, {
        timeoutMs: 5_000,
        what: `the ${what} connection to be closed`,
      });
    }
    expect((await client.status()).pid).toBe(4242);
  });

  it('never cuts a streamed restart: silent past every deadline, with the table full of idle clients', async () => {
    const handler = new ScriptedHandler();
    const goOn = deferred();
    handler.script = async (_request, onEvent) => {
      onEvent(progress('replica-1', 'draining', 1, ''));
      await goOn.promise;
      onEvent(progress('replica-1', 'ready', 2, ''));
      return { kind: 'done', ok: true, message: 'restarted', durationMs: 1 };
    };
    const { socket, client } = await startServer({ ...SHORT, maxConnections: 4 }, handler);
    const events: RestartProgressEvent[] = [];
    const firstEvent = deferred();
    const restart = client.restart({}, (event) => {
      events.push(event);
      firstEvent.resolve();
    });
    await firstEvent.promise;

    // Each idle connection's close proves a deadline passed while the restart was silent.
    for (let round = 0; round < 3; round += 1) {
      const idle = await open(socket);
      await waitFor(idle.closed, { timeoutMs: 5_000, what: 'an idle connection to time out' });
    }
    // More idle clients than the table holds: they evict each other, never the stream.
    for (let index = 0; index < 10; index += 1) await open(socket);
    expect((await client.status()).pid).toBe(4242);

    goOn.resolve();
    const done = await restart;
    expect(done).toMatchObject({ ok: true, message: 'restarted' });
    expect(events).toMatchObject([{ state: 'draining' }, { state: 'ready' }]);
  });
});
