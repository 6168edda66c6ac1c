import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cgroup2Mount,
  cgroupDirectories,
  cgroupLimitBytes,
  cgroupV2Path,
  memAvailableBytes,
  readAvailableMemory,
} from '../../../src/supervisor/available-memory.js';
import { makeTempDir } from '../../support/temp-dir.js';

const MEMINFO = `MemTotal:       32854120 kB
MemFree:         1234567 kB
MemAvailable:   10276044 kB
Buffers:          204800 kB
`;

const HYBRID_CGROUP = `9:name=systemd:/
4:memory:/process_api/a56cbc8c
0::/system.slice/switchyard.service
`;

const mountinfo = (
  mountPoint: string,
  root = '/',
) => `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory
37 25 0:32 ${root} ${mountPoint} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;

describe('parsing /proc and cgroup files', () => {
  it('reads MemAvailable in bytes', () => {
    expect(memAvailableBytes(MEMINFO)).toBe(10_276_044 * 1024);
    expect(memAvailableBytes('MemTotal: 1 kB\n')).toBeNull();
  });

  it('reads the cgroup v2 path, also beside v1 hierarchies, and null without one', () => {
    expect(cgroupV2Path(HYBRID_CGROUP)).toBe('/system.slice/switchyard.service');
    expect(cgroupV2Path('0::/\n')).toBe('/');
    expect(cgroupV2Path('4:memory:/x\n1:cpu:/\n')).toBeNull();
  });

  it('finds the cgroup2 mount (not a v1 one), with its escapes undone', () => {
    expect(cgroup2Mount(mountinfo('/sys/fs/cgroup'))).toEqual({
      root: '/',
      mountPoint: '/sys/fs/cgroup',
    });
    expect(cgroup2Mount(mountinfo('/srv/my\\040cgroups'))?.mountPoint).toBe('/srv/my cgroups');
    expect(cgroup2Mount('22 1 8:1 / / rw - ext4 /dev/sda1 rw\n')).toBeNull();
  });

  it('reads memory.max: a byte count, or no limit', () => {
    expect(cgroupLimitBytes('1073741824\n')).toBe(1024 ** 3);
    expect(cgroupLimitBytes('max\n')).toBeNull();
  });

  it('lists the cgroup and its ancestors up to the mount point, inside a mounted subtree too', () => {
    const mount = { root: '/', mountPoint: '/sys/fs/cgroup' };
    expect(cgroupDirectories(mount, '/system.slice/switchyard.service')).toEqual([
      '/sys/fs/cgroup/system.slice/switchyard.service',
      '/sys/fs/cgroup/system.slice',
      '/sys/fs/cgroup',
    ]);
    expect(cgroupDirectories(mount, '/')).toEqual(['/sys/fs/cgroup']);
    const subtree = { root: '/lxc/web', mountPoint: '/sys/fs/cgroup' };
    expect(cgroupDirectories(subtree, '/lxc/web/app')).toEqual([
      '/sys/fs/cgroup/app',
      '/sys/fs/cgroup',
    ]);
    expect(cgroupDirectories(subtree, '/elsewhere')).toEqual([]);
  });
});

describe('readAvailableMemory over a /proc and cgroup tree', () => {
  const temp = makeTempDir('availmem');
  afterAll(() => temp.remove());

  /** A /proc with meminfo and self/, and a cgroup2 mount whose files are `cgroups`. */
  function tree(
    name: string,
    cgroups: Record<string, { max?: string; current?: string; stat?: string }>,
  ) {
    const proc = join(temp.path, name, 'proc');
    const mountPoint = join(temp.path, name, 'cgroup');
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'meminfo'), MEMINFO);
    writeFileSync(join(proc, 'self', 'cgroup'), HYBRID_CGROUP);
    writeFileSync(join(proc, 'self', 'mountinfo'), mountinfo(mountPoint));
    for (const [path, files] of Object.entries(cgroups)) {
      const dir = join(mountPoint, path);
      mkdirSync(dir, { recursive: true });
      if (files.max !== undefined) writeFileSync(join(dir, 'memory.max'), files.max);
      if (files.current !== undefined) writeFileSync(join(dir, 'memory.current'), files.current);
      if (files.stat !== undefined) writeFileSync(join(dir, 'memory.stat'), files.stat);
    }
    return proc;
  }

  it('is the host’s MemAvailable without a cgroup limit', async () => {
    const proc = tree('unlimited', {
      'system.slice/switchyard.service': { max: 'max\n', current: '52428800\n' },
    });
    expect(await readAvailableMemory(proc)).toEqual({
      bytes: 10_276_044 * 1024,
      limitedBy: 'host',
    });
  });

  it('is the tightest cgroup headroom (memory.max − memory.current) when it is below the host’s', async () => {
    const proc = tree('limited', {
      'system.slice/switchyard.service': { max: `${2 * 1024 ** 3}\n`, current: `${1024 ** 3}\n` },
      // The slice above is nearly full: it bounds the service too.
      'system.slice': {
        max: `${4 * 1024 ** 3}\n`,
        current: `${4 * 1024 ** 3 - 180 * 1024 ** 2}\n`,
      },
    });
    expect(await readAvailableMemory(proc)).toEqual({
      bytes: 180 * 1024 ** 2,
      limitedBy: 'cgroup',
    });
  });

  it('counts the cgroup’s inactive page cache as available: the kernel reclaims it first', async () => {
    // 2 GiB limit, 1.9 GiB charged, 1.2 GiB of it inactive file pages (releases read once,
    // logs written): what new replicas can take is 1.3 GiB, not 100 MiB.
    const proc = tree('cached', {
      'system.slice/switchyard.service': {
        max: `${2 * 1024 ** 3}\n`,
        current: `${1946 * 1024 ** 2}\n`,
        stat: [
          `anon ${600 * 1024 ** 2}`,
          `file ${1300 * 1024 ** 2}`,
          `active_file ${100 * 1024 ** 2}`,
          `inactive_file ${1228 * 1024 ** 2}`,
          '',
        ].join('\n'),
      },
    });
    expect(await readAvailableMemory(proc)).toEqual({
      bytes: (2048 - 1946 + 1228) * 1024 ** 2,
      limitedBy: 'cgroup',
    });
  });

  it('keeps the host’s figure when the cgroup limit is looser', async () => {
    const proc = tree('loose', {
      'system.slice/switchyard.service': { max: `${64 * 1024 ** 3}\n`, current: '0\n' },
    });
    expect((await readAvailableMemory(proc)).limitedBy).toBe('host');
  });

  it('counts a cgroup over its limit as nothing available', async () => {
    const proc = tree('over', {
      'system.slice/switchyard.service': { max: '1000\n', current: '5000\n' },
    });
    expect(await readAvailableMemory(proc)).toEqual({ bytes: 0, limitedBy: 'cgroup' });
  });

  it('fails when /proc/meminfo cannot be read', async () => {
    await expect(readAvailableMemory(join(temp.path, 'nowhere'))).rejects.toThrow(/meminfo/);
  });
});
