import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load-config.js';
import { isRootAccount } from '../../../src/config/root-account.js';
import { configRefusal } from '../../support/config-refusal.js';
import { MINIMAL_CONFIG } from '../../support/minimal-config.js';
import { makeTempDir } from '../../support/temp-dir.js';

// Values a typo or a hostile config makes: each is refused when the config is read, naming
// the key, before anything starts (the daemon then exits 78).

const temp = makeTempDir('bounds');
afterAll(() => temp.remove());

/** kind = "command" needs no php-fpm on this machine; its argv[0] is this node. */
const COMMAND = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"
[release]
symlink = "/srv/app/current"
[replicas]
kind = "command"
[replicas.command]
argv = [${JSON.stringify(process.execPath)}]
`;

function refusal(text: string): { key: string; reason: string } {
  return configRefusal(() => parseConfig(text, temp.path));
}

describe('upper bounds', () => {
  it.each([
    {
      text: COMMAND.replace('kind = "command"', 'kind = "command"\ncount = 1000000000'),
      key: 'replicas.count',
    },
    {
      text: COMMAND.replace('kind = "command"', 'kind = "command"\ncapacity = 10000000'),
      key: 'replicas.capacity',
    },
    { text: `${MINIMAL_CONFIG}capacity = 10000000\n`, key: 'replicas.capacity' },
    { text: `${MINIMAL_CONFIG}[limits]\nqueue = 1000000000\n`, key: 'limits.queue' },
    { text: `${MINIMAL_CONFIG}[limits]\nmax_params = "1GiB"\n`, key: 'limits.max_params' },
    { text: `${MINIMAL_CONFIG}[limits]\nretry_body = "10GiB"\n`, key: 'limits.retry_body' },
    { text: `${MINIMAL_CONFIG}[limits]\nmax_connections = 0\n`, key: 'limits.max_connections' },
    {
      text: `${MINIMAL_CONFIG}[limits]\nrequests_per_connection = 100000\n`,
      key: 'limits.requests_per_connection',
    },
    { text: `${MINIMAL_CONFIG}[limits]\nparams_timeout = "0"\n`, key: 'limits.params_timeout' },
    {
      text: `${MINIMAL_CONFIG}[limits]\nclient_idle_timeout = "0"\n`,
      key: 'limits.client_idle_timeout',
    },
  ])('refuses $key out of range', ({ text, key }) => {
    expect(refusal(text).key).toBe(key);
  });

  it('says what the bound is', () => {
    expect(refusal(`${MINIMAL_CONFIG}[limits]\nmax_params = "1GiB"\n`).reason).toBe(
      '"1GiB" is too large: at most 16MiB',
    );
    expect(
      refusal(COMMAND.replace('kind = "command"', 'kind = "command"\ncount = 65')).reason,
    ).toBe('at most 64');
  });

  it('refuses a connection buffer that cannot hold one whole request', () => {
    expect(refusal(`${MINIMAL_CONFIG}[limits]\nconnection_buffer = "1MiB"\n`)).toEqual({
      key: 'limits.connection_buffer',
      reason:
        'must hold one whole request: at least max_params + retry_body + 1MiB (3145728 bytes)',
    });
    const config = parseConfig(
      `${MINIMAL_CONFIG}[limits]\nconnection_buffer = "8MiB"\n`,
      temp.path,
    );
    expect(config.limits.connectionBufferBytes).toBe(8 * 1024 * 1024);
  });
});

describe('paths switchyard creates', () => {
  it.each([
    { table: '[paths]\nruntime = "/proc/switchyard"', key: 'paths.runtime' },
    { table: '[paths]\nstate = "/sys/fs/switchyard"', key: 'paths.state' },
    { table: '[paths]\nruntime = "/proc"', key: 'paths.runtime' },
    { table: '[control]\nsocket = "/proc/self/control.sock"', key: 'control.socket' },
  ])('refuses $key under /proc or /sys', ({ table, key }) => {
    const found = refusal(`${MINIMAL_CONFIG}${table}\n`);
    expect(found.key).toBe(key);
    expect(found.reason).toMatch(/is under \/(proc|sys), where nothing can be created$/);
  });

  it('refuses a path that leads into /proc through a symlink', () => {
    const found = refusal(`${MINIMAL_CONFIG}[paths]\nruntime = "/dev/fd/switchyard/run"\n`);
    expect(found.key).toBe('paths.runtime');
    expect(found.reason).toMatch(
      /^"\/dev\/fd\/switchyard\/run" is under \/proc \(through \/proc\/\d+\/fd\/switchyard\/run\), where nothing can be created$/,
    );
  });

  it('refuses a FastCGI socket under /proc, and takes /processes as an ordinary path', () => {
    expect(
      refusal(MINIMAL_CONFIG.replace('unix:/run/switchyard/app.sock', 'unix:/proc/app.sock')).key,
    ).toBe('listen.fastcgi');
    const config = parseConfig(`${MINIMAL_CONFIG}[paths]\nruntime = "/processes/run"\n`, temp.path);
    expect(config.paths.runtime).toBe('/processes/run');
  });
});

describe('root workers', () => {
  const phpFpm = (lines: string) => `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"
[release]
symlink = "/srv/app/current"
[replicas]
kind = "php-fpm"
[replicas.php_fpm]
binary = ${JSON.stringify(process.execPath)}
${lines}
`;

  it('refuses user = "root" unless allow_root_workers says so', () => {
    expect(refusal(phpFpm('user = "root"'))).toEqual({
      key: 'replicas.php_fpm.user',
      reason:
        '"root" is root: PHP would run with every privilege of the host; use an unprivileged user such as "www-data", or set allow_root_workers = true',
    });
    expect(refusal(phpFpm('user = "0"')).key).toBe('replicas.php_fpm.user');
    const allowed = parseConfig(phpFpm('user = "root"\nallow_root_workers = true'), temp.path);
    expect(allowed.replicas.kind === 'php-fpm' && allowed.replicas.phpFpm.allowRootWorkers).toBe(
      true,
    );
  });

  it('knows any uid-0 account in the passwd file as root', () => {
    const passwd = join(temp.path, 'passwd');
    writeFileSync(
      passwd,
      'root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/:/bin/false\n',
    );
    expect(isRootAccount('toor', passwd)).toBe(true);
    expect(isRootAccount('www-data', passwd)).toBe(false);
    expect(isRootAccount('nobody-here', passwd)).toBe(false);
    expect(isRootAccount('root', join(temp.path, 'missing'))).toBe(true);
  });
});
