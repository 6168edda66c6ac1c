import { statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/frontend/listener.js';
import { staleSocket } from '../support/stale-socket.js';
import { makeTempDir } from '../support/temp-dir.js';

const temp = makeTempDir('listen');
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  temp.remove();
});

describe('front end listener', () => {
  it('creates the unix socket with the configured mode', async () => {
    const path = join(temp.path, 'mode.sock');
    servers.push(await listen({ kind: 'unix', path }, 0o640, () => {}));
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('replaces a stale socket file nobody listens on', async () => {
    const path = join(temp.path, 'stale.sock');
    await staleSocket(path);
    expect(statSync(path).isSocket()).toBe(true);
    servers.push(await listen({ kind: 'unix', path }, 0o660, () => {}));
  });

  it('refuses a socket a running process still answers on', async () => {
    const path = join(temp.path, 'live.sock');
    servers.push(await listen({ kind: 'unix', path }, 0o660, () => {}));
    await expect(listen({ kind: 'unix', path }, 0o660, () => {})).rejects.toThrow('in use');
  });

  it('never deletes a path that is not a socket', async () => {
    const path = join(temp.path, 'precious.txt');
    writeFileSync(path, 'keep me');
    await expect(listen({ kind: 'unix', path }, 0o660, () => {})).rejects.toThrow('not a socket');
    expect(statSync(path).isFile()).toBe(true);
  });

  it('listens on TCP', async () => {
    const server = await listen({ kind: 'tcp', host: '127.0.0.1', port: 0 }, 0o660, () => {});
    servers.push(server);
    const address = server.address();
    expect(typeof address === 'object' && address !== null && address.port > 0).toBe(true);
  });
});
