import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../src/config/config-error.js';
import type { Config, ExternalReplicasConfig } from '../../../src/config/config-types.js';
import { loadConfig, parseConfig } from '../../../src/config/load-config.js';
import { configErrorOf } from '../../support/config-refusal.js';
import { DEFAULTS_BESIDE_REPLICAS, MINIMAL_CONFIG } from '../../support/minimal-config.js';
import { makeTempDir } from '../../support/temp-dir.js';

/** The replica addresses of an external-kind config. */
function addressesOf(config: Config): ExternalReplicasConfig['addresses'] {
  if (config.replicas.kind !== 'external') return expect.unreachable('not kind external');
  return config.replicas.addresses;
}

/** The ConfigError parseConfig throws for `text`. */
function configError(text: string): ConfigError {
  return configErrorOf(() => parseConfig(text, '/etc/switchyard'));
}

describe('parseConfig', () => {
  it('reads a complete file into a typed Config', () => {
    const config = parseConfig(
      `
[listen]
fastcgi = "[::1]:9000"
mode = "600"
http = "127.0.0.1:8080"

[release]
symlink = "/srv/app/current"

[replicas]
kind = "external"
addresses = ["unix:/run/php/a.sock", "127.0.0.1:9001"]
capacity = 4
idle_timeout = "2m"

[limits]
queue = 10
queue_timeout = "250ms"
request_timeout = "1.5s"
max_params = "64KiB"
retry_body = 0

[log]
level = "debug"
`,
      '/etc/switchyard',
    );
    expect(config).toStrictEqual<Config>({
      ...DEFAULTS_BESIDE_REPLICAS,
      listen: {
        fastcgi: { kind: 'tcp', host: '::1', port: 9000 },
        mode: 0o600,
        group: null,
        http: { kind: 'tcp', host: '127.0.0.1', port: 8080 },
      },
      release: { symlink: '/srv/app/current', root: null },
      replicas: {
        kind: 'external',
        addresses: [
          { kind: 'unix', path: '/run/php/a.sock' },
          { kind: 'tcp', host: '127.0.0.1', port: 9001 },
        ],
        capacity: 4,
        idleTimeoutMs: 120_000,
        connectTimeoutMs: 2_000,
      },
      limits: {
        queue: 10,
        queueTimeoutMs: 250,
        requestTimeoutMs: 1_500,
        maxParamsBytes: 65_536,
        retryBodyBytes: 0,
        maxConnections: 1024,
        requestsPerConnection: 16,
        connectionBufferBytes: 65_536 + 1_048_576,
        paramsTimeoutMs: 10_000,
        clientIdleTimeoutMs: 120_000,
      },
      log: { level: 'debug' },
    });
  });

  it('fills every default', () => {
    expect(parseConfig(MINIMAL_CONFIG, '/etc/switchyard')).toStrictEqual<Config>({
      ...DEFAULTS_BESIDE_REPLICAS,
      replicas: {
        kind: 'external',
        addresses: [
          { kind: 'unix', path: '/run/php/a.sock' },
          { kind: 'unix', path: '/run/php/b.sock' },
        ],
        capacity: 8,
        idleTimeoutMs: 30_000,
        connectTimeoutMs: 2_000,
      },
    });
  });

  it('returns a deeply frozen Config', () => {
    const config = parseConfig(MINIMAL_CONFIG, '/etc/switchyard');
    expect(() => {
      (config.limits as { queue: number }).queue = 1;
    }).toThrow(TypeError);
    expect(() => {
      (addressesOf(config) as unknown[]).push({ kind: 'unix', path: '/c.sock' });
    }).toThrow(TypeError);
    expect(() => {
      (config.listen.fastcgi as { path: string }).path = '/elsewhere.sock';
    }).toThrow(TypeError);
    expect(config.limits.queue).toBe(1024);
  });

  it.each([
    {
      problem: 'missing listen.fastcgi',
      text: MINIMAL_CONFIG.replace('fastcgi = "unix:/run/switchyard/app.sock"', ''),
      key: 'listen.fastcgi',
      reason: 'is required',
    },
    {
      problem: 'a missing table',
      text: MINIMAL_CONFIG.replace('[release]\nsymlink = "/srv/app/current"', ''),
      key: 'release',
      reason: 'missing: add a [release] table',
    },
    {
      problem: 'a relative unix path without ./',
      text: MINIMAL_CONFIG.replace('unix:/run/switchyard/app.sock', 'unix:relative'),
      key: 'listen.fastcgi',
      reason:
        'unix socket path "relative" must be an absolute path, or start with ./ or ../ to be relative to the config file',
    },
    {
      problem: 'a port out of range',
      text: MINIMAL_CONFIG.replace('unix:/run/switchyard/app.sock', '127.0.0.1:70000'),
      key: 'listen.fastcgi',
      reason: '"127.0.0.1:70000": port "70000" is not in 1..65535',
    },
    {
      problem: 'a typo in a key',
      text: `${MINIMAL_CONFIG}capcity = 4\n`,
      key: 'replicas.capcity',
      reason: 'unknown key; known keys: kind, addresses, capacity, idle_timeout, connect_timeout',
    },
    {
      // The typo also leaves `addresses` missing; the unknown key is the useful report.
      problem: 'a typo in a required key',
      text: MINIMAL_CONFIG.replace('addresses =', 'adresses ='),
      key: 'replicas.adresses',
      reason: 'unknown key; known keys: kind, addresses, capacity, idle_timeout, connect_timeout',
    },
    {
      problem: 'an unknown table',
      text: `${MINIMAL_CONFIG}[limit]\nqueue = 1\n`,
      key: 'limit',
      reason:
        'unknown key; known keys: listen, release, replicas, health, drain, control, paths, deploy, response, limits, sessions, static, watchdog, log',
    },
    {
      problem: 'an unknown replicas.kind',
      text: MINIMAL_CONFIG.replace('kind = "external"', 'kind = "php-fmp"'),
      key: 'replicas.kind',
      reason: 'unknown kind "php-fmp"; known kinds: external, php-fpm, command',
    },
    {
      problem: 'a missing replicas.kind',
      text: MINIMAL_CONFIG.replace('kind = "external"', ''),
      key: 'replicas.kind',
      reason: 'is required; known kinds: external, php-fpm, command',
    },
    {
      problem: 'one address only',
      text: MINIMAL_CONFIG.replace(', "unix:/run/php/b.sock"', ''),
      key: 'replicas.addresses',
      reason:
        'needs at least 2 addresses, got 1: zero downtime needs a second replica to serve while one restarts',
    },
    {
      problem: 'duplicate addresses',
      text: MINIMAL_CONFIG.replace('b.sock', 'a.sock'),
      key: 'replicas.addresses[1]',
      reason:
        '"unix:/run/php/a.sock" is listed twice (also at [0]): each replica needs its own address',
    },
    {
      problem: 'the FastCGI address among the replicas',
      text: MINIMAL_CONFIG.replace('unix:/run/switchyard/app.sock', 'unix:/run/php/b.sock'),
      key: 'listen.fastcgi',
      reason: '"unix:/run/php/b.sock" is also a replica address: switchyard would route to itself',
    },
    {
      problem: 'a unix HTTP front',
      text: MINIMAL_CONFIG.replace('[release]', 'http = "unix:/run/http.sock"\n[release]'),
      key: 'listen.http',
      reason: '"unix:/run/http.sock": the HTTP front needs a TCP host:port',
    },
    {
      problem: 'an invalid duration',
      text: `${MINIMAL_CONFIG}[limits]\nqueue_timeout = "5x"\n`,
      key: 'limits.queue_timeout',
      reason: '"5x" is not a duration: use e.g. 500ms, 5s, 2m',
    },
    {
      problem: 'a duration written as a number',
      text: `${MINIMAL_CONFIG}[limits]\nrequest_timeout = 60\n`,
      key: 'limits.request_timeout',
      reason: 'expected a duration such as "5s", got integer 60',
    },
    {
      problem: 'a zero request timeout',
      text: `${MINIMAL_CONFIG}[limits]\nrequest_timeout = "0"\n`,
      key: 'limits.request_timeout',
      reason: 'must be longer than 0',
    },
    {
      problem: 'an invalid size',
      text: `${MINIMAL_CONFIG}[limits]\nmax_params = "1MX"\n`,
      key: 'limits.max_params',
      reason:
        '"1MX" is not a size: use e.g. 512, 64KiB, 1MiB (KiB, MiB, GiB count in 1024s; KB, MB, GB in 1000s)',
    },
    {
      problem: 'a size of the wrong type',
      text: `${MINIMAL_CONFIG}[limits]\nretry_body = true\n`,
      key: 'limits.retry_body',
      reason: 'expected a size such as "1MiB", got boolean true',
    },
    {
      problem: 'an invalid mode',
      text: MINIMAL_CONFIG.replace('[release]', 'mode = "0998"\n[release]'),
      key: 'listen.mode',
      reason: '"0998" is not a file mode: use octal digits, e.g. "0660"',
    },
    {
      problem: 'a mode written as a bare number',
      text: MINIMAL_CONFIG.replace('[release]', 'mode = 660\n[release]'),
      key: 'listen.mode',
      reason: 'write the mode as a quoted octal string, e.g. "0660", got 660',
    },
    {
      problem: 'a capacity of zero',
      text: `${MINIMAL_CONFIG}capacity = 0\n`,
      key: 'replicas.capacity',
      reason: 'must be greater than 0, got integer 0',
    },
    {
      problem: 'a fractional queue',
      text: `${MINIMAL_CONFIG}[limits]\nqueue = 1.5\n`,
      key: 'limits.queue',
      reason: 'expected an integer, got float 1.5',
    },
    {
      problem: 'an unknown log level',
      text: `${MINIMAL_CONFIG}[log]\nlevel = "verbose"\n`,
      key: 'log.level',
      reason:
        'expected one of "fatal", "error", "warn", "info", "debug", "trace", got string "verbose"',
    },
    {
      problem: 'a health path without a leading slash',
      text: `${MINIMAL_CONFIG}[health]\npath = "fpm-ping"\n`,
      key: 'health.path',
      reason: '"fpm-ping" must start with "/", e.g. "/fpm-ping"',
    },
    {
      // The check's SCRIPT_NAME would be /fpm-ping, which php-fpm's ping.path would not match.
      problem: 'a health path with //',
      text: `${MINIMAL_CONFIG}[health]\npath = "//fpm-ping"\n`,
      key: 'health.path',
      reason: '"//fpm-ping" has an empty segment (//): write it as a web server sends it',
    },
    {
      problem: 'an invalid health interval',
      text: `${MINIMAL_CONFIG}[health]\ninterval = "5 seconds"\n`,
      key: 'health.interval',
      reason: '"5 seconds" is not a duration: use e.g. 500ms, 5s, 2m',
    },
    {
      problem: 'zero failures',
      text: `${MINIMAL_CONFIG}[health]\nfailures = 0\n`,
      key: 'health.failures',
      reason: 'must be greater than 0, got integer 0',
    },
    {
      problem: 'an invalid drain timeout',
      text: `${MINIMAL_CONFIG}[drain]\ntimeout = "30"\n`,
      key: 'drain.timeout',
      reason: '"30" has no unit: use e.g. 500ms, 5s, 2m',
    },
    {
      problem: 'a control mode written as a number',
      text: `${MINIMAL_CONFIG}[control]\nmode = 600\n`,
      key: 'control.mode',
      reason: 'write the mode as a quoted octal string, e.g. "0600", got 600',
    },
    {
      problem: 'the control socket on the FastCGI socket',
      text: `${MINIMAL_CONFIG}[control]\nsocket = "/run/switchyard/app.sock"\n`,
      key: 'control.socket',
      reason: '"/run/switchyard/app.sock" is also the FastCGI socket (listen.fastcgi)',
    },
    {
      problem: 'a relative runtime directory without ./',
      text: `${MINIMAL_CONFIG}[paths]\nruntime = "run"\n`,
      key: 'paths.runtime',
      reason:
        '"run" must be an absolute path, or start with ./ or ../ to be relative to the config file',
    },
  ])('names the key and the reason for $problem', ({ text, key, reason }) => {
    const error = configError(text);
    expect(error.code).toBe('ERR_CONFIG');
    expect({ key: error.key, reason: error.reason }).toEqual({ key, reason });
    expect(error.message).toBe(`${key}: ${reason}`);
  });

  it('reports a TOML syntax error with its line and column', () => {
    const error = configError(MINIMAL_CONFIG.replace('kind = "external"', 'kind = external'));
    expect(error.key).toBe('');
    expect(error.reason).toBe('TOML syntax error at line 9, column 8: invalid value');
    expect(error.message).toBe(`<string>: ${error.reason}`);
  });
});

describe('loadConfig', () => {
  let dir: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    dir = makeTempDir('config');
  });
  afterEach(() => dir.remove());

  it('resolves ./ and ../ paths against the config file directory, not the cwd', () => {
    mkdirSync(join(dir.path, 'etc'));
    const file = join(dir.path, 'etc', 'switchyard.toml');
    writeFileSync(
      file,
      `
[listen]
fastcgi = "unix:./run/app.sock"

[release]
symlink = "../srv/current"

[replicas]
kind = "external"
addresses = ["unix:../php/a.sock", "unix:/run/php/b.sock"]
`,
    );
    const config = loadConfig(relative(process.cwd(), file));
    expect(config.listen.fastcgi).toEqual({
      kind: 'unix',
      path: join(dir.path, 'etc/run/app.sock'),
    });
    expect(config.release.symlink).toBe(join(dir.path, 'srv/current'));
    expect(addressesOf(config)).toEqual([
      { kind: 'unix', path: join(dir.path, 'php/a.sock') },
      { kind: 'unix', path: '/run/php/b.sock' },
    ]);
  });

  it('names the file in a syntax error', () => {
    const file = join(dir.path, 'broken.toml');
    writeFileSync(file, '[listen\nfastcgi = "127.0.0.1:9000"\n');
    const error = configErrorOf(() => loadConfig(file));
    expect(error.file).toBe(file);
    const { reason, message } = error;
    expect(reason).toMatch(/^TOML syntax error at line 1, column \d+: /);
    expect(message).toBe(`${file}: ${reason}`);
  });

  it('reports a missing file with its path and errno code', () => {
    const file = join(dir.path, 'missing.toml');
    const error = configErrorOf(() => loadConfig(file));
    expect(error.key).toBe('');
    expect(error.reason).toBe(`cannot read config file ${file}: ENOENT: no such file or directory`);
  });
});
