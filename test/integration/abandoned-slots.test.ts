import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplicaPool } from '../../src/balancer/replica-pool.js';
import { RecordType, Role } from '../../src/protocol/constants.js';
import { encodeParamsRecords } from '../../src/protocol/params-encoder.js';
import { encodeBeginRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { startPhpFpmDataPlane } from '../support/php-fpm-data-plane.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

const running: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

/** The pool whose slot the abandoned request holds (the one with a slot taken). */
function holder(pools: readonly ReplicaPool[]): ReplicaPool {
  const pool = pools.find((candidate) => candidate.load > 0);
  if (pool === undefined) throw new Error('no replica holds a slot');
  return pool;
}

describe('a request whose client is gone keeps its slot until the worker is free', () => {
  it('a timed-out request (504) holds its slot as abandoned until END_REQUEST, and later requests go elsewhere at once', async () => {
    // One child per master: a request sent to the abandoned slot's replica would wait in
    // php-fpm's backlog behind the sleeping script.
    const { plane, symlink } = await startPhpFpmDataPlane(
      phpFpm as string,
      { children: 1, requestTimeoutMs: 400 },
      running,
    );
    const timedOut = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/sleep.php?ms=4000'),
    });
    expect(timedOut.status).toBe(504);
    const pool = holder(plane.balancer.pools());
    expect({ inFlight: pool.inFlight, abandoned: pool.abandoned, free: pool.hasFreeSlot }).toEqual({
      inFlight: 0,
      abandoned: 1,
      free: false,
    });
    expect(pool.slotRequests().map((request) => request.held)).toEqual(['abandoned']);

    // Each fast request goes to the free replica and answers long before the script ends.
    for (let i = 0; i < 4; i += 1) {
      const started = Date.now();
      const fast = await fcgiExchange(plane.socket, { params: phpParams(symlink, '/hello.php') });
      expect(fast.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    }
    expect(pool.abandoned).toBe(1);

    await waitFor(() => pool.abandoned === 0 && pool.hasFreeSlot, {
      timeoutMs: 10_000,
      what: 'the abandoned slot to be free once the script ended',
    });
    expect(pool.stuck).toBe(0);
    // The connection was kept, and it serves again.
    const again = await fcgiExchange(plane.socket, { params: phpParams(symlink, '/hello.php') });
    expect(again.status).toBe(200);
  });

  it('a client that goes away mid-request leaves its slot abandoned, not free', async () => {
    const { plane, symlink } = await startPhpFpmDataPlane(
      phpFpm as string,
      { children: 1 },
      running,
    );
    const client = connect(plane.socket);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    client.write(
      Buffer.concat([
        encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, false)),
        encodeParamsRecords(1, phpParams(symlink, '/sleep.php?ms=3000')),
        encodeRecord(RecordType.Stdin, 1),
      ]),
    );
    await waitFor(() => plane.balancer.pools().some((pool) => pool.inFlight === 1), {
      timeoutMs: 5_000,
      what: 'the request to reach a replica',
    });
    client.destroy();
    await waitFor(() => plane.balancer.pools().some((pool) => pool.abandoned === 1), {
      timeoutMs: 5_000,
      what: 'the slot to count abandoned',
    });
    const pool = holder(plane.balancer.pools());
    expect(pool.hasFreeSlot).toBe(false);
    await waitFor(() => pool.load === 0, {
      timeoutMs: 10_000,
      what: 'the slot to be free once the script ended',
    });
  });

  it('an upload cut short by the request timeout is ended, so the worker finishes and frees the slot', async () => {
    const { plane, symlink } = await startPhpFpmDataPlane(
      phpFpm as string,
      { children: 1, requestTimeoutMs: 500 },
      running,
    );
    const client = connect(plane.socket);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('data', () => {});
    // Half the announced body, then nothing: the worker reads until the body ends.
    client.write(
      Buffer.concat([
        encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, false)),
        encodeParamsRecords(
          1,
          phpParams(symlink, '/upload.php', {
            REQUEST_METHOD: 'POST',
            CONTENT_TYPE: 'application/octet-stream',
            CONTENT_LENGTH: '20000',
          }),
        ),
        encodeRecord(RecordType.Stdin, 1, Buffer.alloc(10_000, 0x61)),
      ]),
    );
    await closed; // answered 504 and closed (no keep-alive)
    // Without the end of the body the worker would wait for the rest until php-fpm's own
    // timeout; with it, the script reads a short body and ends at once.
    await waitFor(() => plane.balancer.pools().every((pool) => pool.load === 0), {
      timeoutMs: 5_000,
      what: 'the abandoned upload to end and free its slot',
    });
  });

  it('an abandoned request past abandon_after is given up: the connection closes and a managed replica’s slot counts stuck until replaced', async () => {
    const { plane, symlink, masters } = await startPhpFpmDataPlane(
      phpFpm as string,
      { children: 1, requestTimeoutMs: 300, abandonAfterMs: 500, replaceable: true },
      running,
    );
    const timedOut = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/sleep.php?ms=2500'),
    });
    expect(timedOut.status).toBe(504);
    const pool = holder(plane.balancer.pools());
    await waitFor(() => pool.stuck === 1, { timeoutMs: 5_000, what: 'the slot given up' });
    expect(pool.abandoned).toBe(0);
    expect(pool.hasFreeSlot).toBe(false);
    const [stuck] = pool.slotRequests();
    expect(stuck?.held).toBe('stuck');
    expect(stuck?.exchange.params.get('REQUEST_URI')).toBe('/sleep.php?ms=2500');
    // Past the script's end it stays taken: switchyard cannot know the worker is free. The
    // master's only child answers its status page once the script has ended.
    const master = masters[plane.balancer.pools().indexOf(pool)];
    const status = await fcgiExchange(master?.socket as string, {
      params: phpParams(symlink, '/fpm-status', { SCRIPT_NAME: '/fpm-status' }),
    });
    expect(status.status).toBe(200);
    expect(pool.stuck).toBe(1);
    expect(pool.hasFreeSlot).toBe(false);
  });

  it('an external replica, which nothing replaces, gets a given-up slot back', async () => {
    const { plane, symlink } = await startPhpFpmDataPlane(
      phpFpm as string,
      { children: 1, requestTimeoutMs: 300, abandonAfterMs: 500 },
      running,
    );
    const timedOut = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/sleep.php?ms=2500'),
    });
    expect(timedOut.status).toBe(504);
    const pool = holder(plane.balancer.pools());
    expect(pool.abandoned).toBe(1);
    await waitFor(() => pool.abandoned === 0, { timeoutMs: 5_000, what: 'the give-up' });
    expect({ stuck: pool.stuck, load: pool.load, free: pool.hasFreeSlot }).toEqual({
      stuck: 0,
      load: 0,
      free: true,
    });
  });
});
