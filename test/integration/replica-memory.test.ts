import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { measureReplicas, processBytes } from '../../src/supervisor/replica-memory.js';
import { listProcesses } from '../support/process-tree.js';
import { waitFor } from '../support/wait-for.js';

const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) {
    try {
      // The whole group: the shell and what it forked.
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
  }
});

/** A shell leading its own process group (as switchyard starts workers) with `children` forks. */
async function processGroup(children: number): Promise<number> {
  const script = `${Array.from({ length: children }, () => 'sleep 60 &').join(' ')} wait`;
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  started.push(child);
  const pgid = child.pid as number;
  await waitFor(
    () => listProcesses().filter((entry) => entry.pgid === pgid).length === children + 1,
    { timeoutMs: 5_000, what: `the shell and its ${children} children` },
  );
  return pgid;
}

describe('measuring replicas on the real /proc', () => {
  it('counts every live process of each replica’s process group, children included', async () => {
    const one = await processGroup(1);
    const three = await processGroup(3);
    const [oneBytes, threeBytes] = await measureReplicas([[one], [three]]);
    const groupBytes = async (pgid: number) => {
      const members = listProcesses().filter((entry) => entry.pgid === pgid);
      const each = await Promise.all(members.map((entry) => processBytes(entry.pid)));
      return each.reduce((sum, bytes) => sum + bytes, 0);
    };
    // Pss moves a little as other processes on the host map the same libraries: close, not equal.
    const near = (measured: number | undefined, expected: number) =>
      expect(Math.abs((measured ?? 0) - expected)).toBeLessThan(expected * 0.25);
    expect(await processBytes(one)).toBeGreaterThan(0);
    near(oneBytes, await groupBytes(one));
    near(threeBytes, await groupBytes(three));
    // Two more processes, each with pages of its own.
    expect(threeBytes).toBeGreaterThan(oneBytes ?? 0);
  });
});
