import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockedOn } from '../../src/watchdog/blocked-on.js';
import { diagnoseStuck, type StuckRequest } from '../../src/watchdog/stuck-diagnosis.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// flock(1) and sleep(1) are util-linux and coreutils: on every Debian system.
const REQUEST: StuckRequest = {
  script: '/srv/app/current/report.php',
  uri: '/report.php',
  elapsedMs: 61_000,
  session: null,
  startedAt: 0,
};

describe('what /proc says about real processes (command replicas)', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let children: ChildProcess[];

  function start(argv: [string, ...string[]]): number {
    const [file, ...args] = argv;
    const child = spawn(file, args, { stdio: 'ignore' });
    children.push(child);
    if (child.pid === undefined) throw new Error(`${file} did not start`);
    return child.pid;
  }

  beforeEach(() => {
    temp = makeTempDir('cmd-diag');
    children = [];
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    temp.remove();
  });

  it('names the file a process waits to lock, who holds it, and what a sleeping one is in', async () => {
    const file = join(temp.path, 'app.lock');
    writeFileSync(file, '');
    const holder = start(['flock', file, 'sleep', '30']);
    await waitFor(
      () => blockedOn(holder, { sessionHasher: null }).then((line) => line.startsWith('in ')),
      {
        timeoutMs: 5_000,
        what: 'the holder to take the lock and wait for its child',
      },
    );
    const waiter = start(['flock', file, 'true']);
    const sleeper = start(['sleep', '30']);
    const line = await waitFor(
      async () => {
        const found = await blockedOn(waiter, { sessionHasher: null });
        return found.startsWith('waiting on') ? found : null;
      },
      { timeoutMs: 5_000, what: 'the second flock to wait for the lock' },
    );
    expect(line).toBe(`waiting on FLOCK WRITE lock on ${file} (held by pid ${holder})`);
    await waitFor(
      async () =>
        /^in (clock_)?nanosleep\b/.test(await blockedOn(sleeper, { sessionHasher: null })),
      { timeoutMs: 5_000, what: 'sleep(1) to be in nanosleep' },
    );

    // One busy process and one stuck request: that process is named as its worker.
    expect(
      await diagnoseStuck({
        replica: 'replica-2',
        processes: { kind: 'command', pids: [waiter] },
        stuck: [REQUEST],
        sessionHasher: null,
        statusTimeoutMs: 1_000,
      }),
    ).toEqual([
      {
        replica: 'replica-2',
        pid: waiter,
        script: REQUEST.script,
        uri: REQUEST.uri,
        elapsedMs: 61_000,
        session: null,
        blockedOn: line,
      },
    ]);
    // Several: which one runs the request cannot be told, so each is described.
    const [entry] = await diagnoseStuck({
      replica: 'replica-2',
      processes: { kind: 'command', pids: [waiter, sleeper, 999_999_999] },
      stuck: [REQUEST],
      sessionHasher: null,
      statusTimeoutMs: 1_000,
    });
    expect(entry?.pid).toBeNull();
    expect(entry?.blockedOn).toMatch(
      new RegExp(
        `^one of: pid ${waiter} waiting on FLOCK WRITE lock on .*; pid ${sleeper} in (clock_)?nanosleep`,
      ),
    );
  });
});
