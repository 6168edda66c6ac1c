import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigError } from '../../../src/config/config-error.js';
import type { Config } from '../../../src/config/config-types.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { configErrorOf } from '../../support/config-refusal.js';
import { DEFAULTS_BESIDE_REPLICAS } from '../../support/minimal-config.js';
import { makeTempDir } from '../../support/temp-dir.js';

// One directory plays the config file's directory; its bin/ is the whole PATH, so lookups do
// not depend on what this machine has installed.
const temp = makeTempDir('managed');
afterAll(() => temp.remove());
const bin = join(temp.path, 'bin');
mkdirSync(bin);
for (const name of ['php-fpm8.2', 'fake-cgi']) {
  writeFileSync(join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
}
writeFileSync(join(bin, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
// writeFileSync's mode is filtered by the umask; make sure the x bits are really off.
chmodSync(join(bin, 'not-executable'), 0o644);
writeFileSync(join(temp.path, 'pool.conf'), '; extra directives\npm.max_requests = 500\n');
writeFileSync(join(temp.path, 'sectioned.conf'), '; mine\n\n[www]\npm = static\n');
writeFileSync(join(temp.path, 'owned.conf'), 'pm.max_requests = 500\npm = dynamic\n');

beforeEach(() => {
  vi.stubEnv('PATH', bin);
});
afterEach(() => {
  vi.unstubAllEnvs();
});

const HEAD = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"

[release]
symlink = "/srv/app/current"
`;

const PHP_FPM = `${HEAD}
[replicas]
kind = "php-fpm"
`;

const COMMAND = `${HEAD}
[replicas]
kind = "command"

[replicas.command]
argv = ["fake-cgi"]
`;

function parse(text: string): Config {
  return parseConfig(text, temp.path);
}

/** The ConfigError parseConfig throws for `text`. */
function configError(text: string): ConfigError {
  return configErrorOf(() => parse(text));
}

describe('managed replicas', () => {
  it('reads a complete php-fpm config', () => {
    const config = parse(`${HEAD}
[replicas]
count = 3
kind = "php-fpm"
capacity = 4
surge = true
surge_margin = "1GiB"
idle_timeout = "1m"
connect_timeout = "500ms"

[replicas.php_fpm]
binary = ${JSON.stringify(process.execPath)}
pool = "./pool.conf"
user = "app"
group = "web"

[health]
path = "/healthz"
expect = ""
interval = "10s"
timeout = "1s"
failures = 5
start_timeout = "1m"

[drain]
timeout = "2m"

[control]
socket = "./control.sock"
mode = "0660"
group = "deploy"

[paths]
runtime = "./run"
state = "/var/lib/app"
`);
    expect(config).toStrictEqual<Config>({
      ...DEFAULTS_BESIDE_REPLICAS,
      replicas: {
        kind: 'php-fpm',
        count: 3,
        capacity: 4,
        idleTimeoutMs: 60_000,
        connectTimeoutMs: 500,
        surge: true,
        surgeMarginBytes: 1024 ** 3,
        phpFpm: {
          binary: process.execPath,
          pool: join(temp.path, 'pool.conf'),
          user: 'app',
          group: 'web',
          allowRootWorkers: false,
        },
      },
      health: {
        path: '/healthz',
        expect: '',
        intervalMs: 10_000,
        timeoutMs: 1_000,
        failures: 5,
        startTimeoutMs: 60_000,
      },
      drain: { timeoutMs: 120_000 },
      // abandon_after follows drain.timeout.
      watchdog: { ...DEFAULTS_BESIDE_REPLICAS.watchdog, abandonAfterMs: 120_000 },
      control: { socket: join(temp.path, 'control.sock'), mode: 0o660, group: 'deploy' },
      paths: { runtime: join(temp.path, 'run'), state: '/var/lib/app' },
    });
  });

  it('reads a complete command config, resolving argv[0] on PATH', () => {
    const config = parse(`${HEAD}
[replicas]
kind = "command"
count = 4
capacity = 1

[replicas.command]
argv = ["fake-cgi", "-b", "{socket}"]
env = { PHP_FCGI_CHILDREN = "0", SOCKET = "{socket}" }
`);
    expect(config).toStrictEqual<Config>({
      ...DEFAULTS_BESIDE_REPLICAS,
      replicas: {
        kind: 'command',
        count: 4,
        capacity: 1,
        idleTimeoutMs: 30_000,
        connectTimeoutMs: 2_000,
        surge: 'auto',
        surgeMarginBytes: 256 * 1024 ** 2,
        command: {
          argv: [join(bin, 'fake-cgi'), '-b', '{socket}'],
          env: { PHP_FCGI_CHILDREN: '0', SOCKET: '{socket}' },
        },
      },
    });
  });

  it('fills every default for kind = "php-fpm" alone', () => {
    expect(parse(PHP_FPM)).toStrictEqual<Config>({
      ...DEFAULTS_BESIDE_REPLICAS,
      replicas: {
        kind: 'php-fpm',
        count: 2,
        capacity: 8,
        idleTimeoutMs: 30_000,
        connectTimeoutMs: 2_000,
        surge: 'auto',
        surgeMarginBytes: 256 * 1024 ** 2,
        phpFpm: {
          binary: join(bin, 'php-fpm8.2'),
          pool: null,
          user: 'www-data',
          allowRootWorkers: false,
          group: 'www-data',
        },
      },
    });
  });

  it('resolves a program path with a slash against the config directory', () => {
    const config = parse(`${PHP_FPM}[replicas.php_fpm]\nbinary = "./bin/php-fpm8.2"\n`);
    expect(config.replicas.kind === 'php-fpm' && config.replicas.phpFpm.binary).toBe(
      join(bin, 'php-fpm8.2'),
    );
  });

  it.each([
    {
      problem: 'one replica',
      text: `${PHP_FPM}count = 1\n`,
      key: 'replicas.count',
      reason:
        'must be at least 2, got 1: zero downtime needs a second replica to serve while one restarts',
    },
    {
      problem: 'a php-fpm binary not on PATH',
      text: `${PHP_FPM}[replicas.php_fpm]\nbinary = "php-fpm7.4"\n`,
      key: 'replicas.php_fpm.binary',
      reason: `"php-fpm7.4" not found on PATH or in sbin (${bin}:/usr/local/sbin:/usr/sbin:/sbin): install it or give its absolute path`,
    },
    {
      // sbin is searched after PATH: Debian puts php-fpm8.2 there.
      problem: 'a binary neither on PATH nor in sbin',
      text: PHP_FPM.replace(
        'kind = "php-fpm"',
        'kind = "php-fpm"\n[replicas.php_fpm]\nbinary = "php-fpm0.1"',
      ),
      path: '/nonexistent',
      key: 'replicas.php_fpm.binary',
      reason:
        '"php-fpm0.1" not found on PATH or in sbin (/nonexistent:/usr/local/sbin:/usr/sbin:/sbin): install it or give its absolute path',
    },
    {
      problem: 'a missing binary path',
      text: `${PHP_FPM}[replicas.php_fpm]\nbinary = "./bin/php-fpm"\n`,
      key: 'replicas.php_fpm.binary',
      reason: `"${bin}/php-fpm" cannot be run: ENOENT: no such file or directory`,
    },
    {
      problem: 'a binary without execute permission',
      text: `${PHP_FPM}[replicas.php_fpm]\nbinary = "./bin/not-executable"\n`,
      key: 'replicas.php_fpm.binary',
      reason: `"${bin}/not-executable" is not executable`,
    },
    {
      problem: 'a directory as the binary',
      text: `${PHP_FPM}[replicas.php_fpm]\nbinary = "./bin"\n`,
      key: 'replicas.php_fpm.binary',
      reason: `"${bin}" is not a regular file`,
    },
    {
      problem: 'a command not on PATH',
      text: COMMAND.replace('"fake-cgi"', '"php-cgi7.4", "-b", "{socket}"'),
      key: 'replicas.command.argv[0]',
      reason: `"php-cgi7.4" not found on PATH or in sbin (${bin}:/usr/local/sbin:/usr/sbin:/sbin): install it or give its absolute path`,
    },
    {
      problem: 'a surge that is neither true, false nor "auto"',
      text: `${PHP_FPM}surge = "yes"\n`,
      key: 'replicas.surge',
      reason: 'expected true, false or "auto", got string "yes"',
    },
    {
      problem: 'a surge margin that is not a size',
      text: `${PHP_FPM}surge_margin = "lots"\n`,
      key: 'replicas.surge_margin',
      reason:
        '"lots" is not a size: use e.g. 512, 64KiB, 1MiB (KiB, MiB, GiB count in 1024s; KB, MB, GB in 1000s)',
    },
    {
      problem: 'an empty argv',
      text: COMMAND.replace('["fake-cgi"]', '[]'),
      key: 'replicas.command.argv',
      reason: 'must name the program to run, e.g. ["php-cgi"]',
    },
    {
      problem: 'a missing [replicas.command] table',
      text: COMMAND.replace('[replicas.command]\nargv = ["fake-cgi"]', ''),
      key: 'replicas.command',
      reason: 'missing: add a [replicas.command] table',
    },
    {
      problem: 'an env value that is not a string',
      text: `${COMMAND}env = { CHILDREN = 4 }\n`,
      key: 'replicas.command.env.CHILDREN',
      reason: 'expected a string, got integer 4',
    },
    {
      problem: 'a pool file that does not exist',
      text: `${PHP_FPM}[replicas.php_fpm]\npool = "./missing.conf"\n`,
      key: 'replicas.php_fpm.pool',
      reason: `cannot read "${temp.path}/missing.conf": ENOENT: no such file or directory`,
    },
    {
      // chmod 000 does not stop root, who runs these tests in CI: a directory fails for all.
      problem: 'a pool path that is a directory',
      text: `${PHP_FPM}[replicas.php_fpm]\npool = "./bin"\n`,
      key: 'replicas.php_fpm.pool',
      reason: `cannot read "${bin}": EISDIR: illegal operation on a directory`,
    },
    {
      problem: 'a pool file setting a directive switchyard owns',
      text: `${PHP_FPM}[replicas.php_fpm]\npool = "./owned.conf"\n`,
      key: 'replicas.php_fpm.pool',
      reason:
        'sets pm, which switchyard sets for each replica (from [replicas], [health] and the ' +
        `release) (line 2 of "${temp.path}/owned.conf")`,
    },
    {
      problem: 'a pool file with a section header',
      text: `${PHP_FPM}[replicas.php_fpm]\npool = "./sectioned.conf"\n`,
      key: 'replicas.php_fpm.pool',
      reason:
        'must hold pool directives only; switchyard writes the [section] itself ' +
        `(line 3 of "${temp.path}/sectioned.conf": [www])`,
    },
    {
      problem: 'a relative pool path without ./',
      text: `${PHP_FPM}[replicas.php_fpm]\npool = "pool.conf"\n`,
      key: 'replicas.php_fpm.pool',
      reason:
        '"pool.conf" must be an absolute path, or start with ./ or ../ to be relative to the config file',
    },
    {
      problem: 'a user name that is not a name',
      text: `${PHP_FPM}[replicas.php_fpm]\nuser = "www-data\\ngroup = root"\n`,
      key: 'replicas.php_fpm.user',
      reason: '"www-data\\ngroup = root" is not a user name',
    },
    {
      problem: 'a typo in [replicas.php_fpm]',
      text: `${PHP_FPM}[replicas.php_fpm]\nbinay = "php-fpm"\n`,
      key: 'replicas.php_fpm.binay',
      reason: 'unknown key; known keys: binary, pool, user, group, allow_root_workers',
    },
    {
      problem: 'a typo in [replicas] of a managed kind',
      text: `${PHP_FPM}conut = 3\n`,
      key: 'replicas.conut',
      reason:
        'unknown key; known keys: kind, count, capacity, surge, surge_margin, idle_timeout, connect_timeout, php_fpm',
    },
    {
      problem: 'a [replicas.php_fpm] table with kind "command"',
      text: `${COMMAND}[replicas.php_fpm]\nuser = "app"\n`,
      key: 'replicas.php_fpm',
      reason: 'only for kind "php-fpm", not "command"',
    },
    {
      problem: 'a [replicas.command] table with kind "php-fpm"',
      text: `${PHP_FPM}[replicas.command]\nargv = ["fake-cgi"]\n`,
      key: 'replicas.command',
      reason: 'only for kind "command", not "php-fpm"',
    },
    {
      problem: 'addresses with kind "php-fpm"',
      text: `${PHP_FPM}addresses = ["unix:/run/php/a.sock", "unix:/run/php/b.sock"]\n`,
      key: 'replicas.addresses',
      reason: 'only for kind "external", not "php-fpm"',
    },
    {
      problem: 'count with kind "external"',
      text: `${HEAD}[replicas]\nkind = "external"\ncount = 2\naddresses = ["unix:/a.sock", "unix:/b.sock"]\n`,
      key: 'replicas.count',
      reason: 'not used with kind "external": the number of addresses is the count',
    },
    {
      problem: 'surge_margin with kind "external"',
      text: `${HEAD}[replicas]\nkind = "external"\nsurge_margin = "1GiB"\naddresses = ["unix:/a.sock", "unix:/b.sock"]\n`,
      key: 'replicas.surge_margin',
      reason: 'only for kind "php-fpm" or "command", not "external"',
    },
  ])('names the key and the reason for $problem', ({ text, path, key, reason }) => {
    if (path !== undefined) vi.stubEnv('PATH', path);
    const error = configError(text);
    expect({ key: error.key, reason: error.reason }).toEqual({ key, reason });
  });
});
