import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  measureReplicas,
  processGroupOf,
  pssBytes,
  rssBytes,
} from '../../../src/supervisor/replica-memory.js';
import { makeTempDir } from '../../support/temp-dir.js';

const SMAPS_ROLLUP = `555d130b1000-7ffdee978000 ---p 00000000 00:00 0                          [rollup]
Rss:               21700 kB
Pss:                9412 kB
Pss_Dirty:           116 kB
Pss_Anon:            116 kB
Shared_Clean:       1500 kB
`;

const STATUS = `Name:\tphp-fpm8.2
State:\tS (sleeping)
VmPeak:\t  250000 kB
VmRSS:\t   21700 kB
RssAnon:\t    6000 kB
`;

const stat = (pid: number, comm: string, state: string, pgrp: number) =>
  `${pid} (${comm}) ${state} 1 ${pgrp} ${pgrp} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0\n`;

describe('parsing /proc', () => {
  it('reads Pss from smaps_rollup and VmRSS from status, in bytes', () => {
    expect(pssBytes(SMAPS_ROLLUP)).toBe(9412 * 1024);
    expect(rssBytes(STATUS)).toBe(21700 * 1024);
    expect(pssBytes('')).toBeNull();
    expect(rssBytes('Name:\tkthreadd\nState:\tS (sleeping)\n')).toBeNull();
  });

  it('reads the process group from stat, whatever the command name holds', () => {
    expect(processGroupOf(stat(120, 'php-fpm8.2', 'S', 100))).toBe(100);
    expect(processGroupOf(stat(121, 'a) S 1 999 (b', 'R', 100))).toBe(100);
    expect(processGroupOf(stat(122, 'php-fpm8.2', 'Z', 100))).toBeNull();
    expect(processGroupOf('garbage')).toBeNull();
  });
});

describe('measureReplicas over a /proc tree', () => {
  const temp = makeTempDir('procmem');
  afterAll(() => temp.remove());
  const proc = join(temp.path, 'proc');
  const processEntry = (
    pid: number,
    pgrp: number,
    files: { smaps?: string; status?: string; state?: string },
  ) => {
    const dir = join(proc, String(pid));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'stat'), stat(pid, 'php-fpm: pool', files.state ?? 'S', pgrp));
    if (files.smaps !== undefined) writeFileSync(join(dir, 'smaps_rollup'), files.smaps);
    if (files.status !== undefined) writeFileSync(join(dir, 'status'), files.status);
  };
  const pss = (kib: number) => `Rss: ${kib * 3} kB\nPss:    ${kib} kB\n`;
  const rss = (kib: number) => `Name:\tx\nVmRSS:\t ${kib} kB\n`;

  // Replica A: master 100 and two children; replica B: master 200 and one child whose
  // smaps_rollup is not readable (Rss instead); 300 is someone else's process.
  processEntry(100, 100, { smaps: pss(1000) });
  processEntry(101, 100, { smaps: pss(2000) });
  processEntry(102, 100, { smaps: pss(3000) });
  processEntry(200, 200, { smaps: pss(500) });
  processEntry(201, 200, { status: rss(700) });
  processEntry(202, 200, { smaps: pss(9999), state: 'Z' });
  processEntry(300, 300, { smaps: pss(50_000) });
  mkdirSync(join(proc, 'self'), { recursive: true });
  writeFileSync(join(proc, 'meminfo'), 'MemTotal: 1 kB\n');

  it('sums each replica’s process group: master and children, Rss where Pss is unreadable', async () => {
    expect(await measureReplicas([[100], [200]], proc)).toEqual([6000 * 1024, 1200 * 1024]);
  });

  it('counts every group of a replica that started several processes, and nothing for none', async () => {
    expect(await measureReplicas([[100, 200], []], proc)).toEqual([7200 * 1024, 0]);
    expect(await measureReplicas([], proc)).toEqual([]);
  });

  it('counts 0 for a replica whose processes are gone', async () => {
    expect(await measureReplicas([[4242]], proc)).toEqual([0]);
  });
});
