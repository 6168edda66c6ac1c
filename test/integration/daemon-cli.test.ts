import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../support/repo-root.js';
import { runSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';

const temp = makeTempDir('cli');
afterAll(() => temp.remove());

function config(lines: string[]): string {
  const path = join(temp.path, `c${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** A release symlink that resolves, beside the config files (whose ./current does not). */
function resolvingSymlink(): string {
  const path = join(temp.path, 'resolving-current');
  if (!existsSync(path)) symlinkSync(repoRoot, path);
  return path;
}

const valid = [
  '[listen]',
  'fastcgi = "unix:./front.sock"',
  '[release]',
  'symlink = "./current"',
  '[replicas]',
  'kind = "external"',
  'addresses = ["unix:./a.sock", "unix:./b.sock"]',
];

describe('switchyard daemon refuses a bad config with exit 78, naming the key', () => {
  it.each([
    ['a missing file', null, '', 'cannot read config file'],
    [
      'one replica',
      valid.map((l) => (l.startsWith('addresses') ? 'addresses = ["unix:./a.sock"]' : l)),
      'replicas.addresses',
      'second replica',
    ],
    [
      'an unknown kind',
      valid.map((l) => (l.startsWith('kind') ? 'kind = "fpm"' : l)),
      'replicas.kind',
      'external',
    ],
    [
      'an invalid duration',
      [...valid, '[limits]', 'queue_timeout = "5x"'],
      'limits.queue_timeout',
      '5x',
    ],
    ['a typo in a key', [...valid, 'capcity = 8'], 'replicas.capcity', 'unknown key'],
    ['a symlink that does not resolve', valid, 'release.symlink', 'ENOENT'],
    [
      'a runtime directory under /proc',
      [...valid, '[paths]', 'runtime = "/proc/switchyard"'],
      'paths.runtime',
      'is under /proc, where nothing can be created',
    ],
    [
      'root php-fpm workers',
      [
        ...valid.slice(0, valid.indexOf('kind = "external"')),
        'kind = "php-fpm"',
        '[replicas.php_fpm]',
        `binary = ${JSON.stringify(process.execPath)}`,
        'user = "root"',
      ],
      'replicas.php_fpm.user',
      'allow_root_workers',
    ],
    [
      'a runtime directory that cannot be made',
      [
        ...valid.slice(0, valid.indexOf('kind = "external"')),
        'kind = "command"',
        '[replicas.command]',
        `argv = [${JSON.stringify(process.execPath)}]`,
        '[paths]',
        'runtime = "./a-file/run"',
        'state = "./state"',
      ],
      'paths.runtime',
      'ENOTDIR',
    ],
    [
      'a control socket whose directory cannot be made',
      [
        ...valid.map((line) =>
          line.startsWith('symlink') ? `symlink = ${JSON.stringify(resolvingSymlink())}` : line,
        ),
        '[control]',
        'socket = "./a-file/control.sock"',
      ],
      'control.socket',
      'cannot create',
    ],
  ])('%s', async (_name, lines, key, reason) => {
    const path = lines === null ? join(temp.path, 'missing.toml') : config(lines);
    // In the way of paths.runtime in the last case.
    writeFileSync(join(temp.path, 'a-file'), 'not a directory');
    const result = await runSwitchyard(['daemon', '-c', path]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('config error');
    if (key) expect(result.stderr).toContain(`${key}:`);
    expect(result.stderr).toContain(reason);
  });

  it('prints help and exits 2 without a command', async () => {
    const result = await runSwitchyard([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('daemon');
  });
});

describe('the shipped example configuration', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is valid', async () => {
    // The example runs php-fpm8.2 from PATH, looked up at load time: a stand-in on PATH keeps
    // this test about the file, not about which php-fpm this machine has.
    const bin = join(temp.path, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'php-fpm8.2'), '#!/bin/sh\n', { mode: 0o755 });
    vi.stubEnv('PATH', bin);
    const { loadConfig } = await import('../../src/config/load-config.js');
    const config = loadConfig(join(repoRoot, 'deploy/switchyard.toml'));
    if (config.replicas.kind !== 'php-fpm') return expect.unreachable('kind is not php-fpm');
    expect(config.replicas.count).toBe(2);
    expect(config.replicas.phpFpm.binary).toBe(join(bin, 'php-fpm8.2'));
    expect(config.limits.queueTimeoutMs).toBe(5_000);
  });
});
