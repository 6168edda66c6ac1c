import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { isDescriptorExhaustion } from '../../../src/net/descriptor-exhaustion.js';
import {
  fitToDescriptorLimit,
  readDescriptorLimit,
  reservedDescriptors,
} from '../../../src/net/descriptor-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

const config = (extra = '', replicasExtra = '') =>
  parseConfig(
    `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"
http = "127.0.0.1:8080"
[release]
symlink = "/srv/app/current"
[replicas]
kind = "command"
count = 2
capacity = 4
${replicasExtra}
[replicas.command]
argv = [${JSON.stringify(process.execPath)}]
${extra}
`,
    '/etc/switchyard',
  );

const silent = pino({ level: 'silent' });

describe('the descriptor limit', () => {
  it('reads the soft and hard limits from /proc/self/limits', () => {
    expect(readDescriptorLimit(LIMITS)).toEqual({ soft: 1024, hard: 524288 });
    expect(readDescriptorLimit(LIMITS.replace('1024 ', 'unlimited'))?.soft).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(readDescriptorLimit('nothing here')).toBeNull();
    const own = readDescriptorLimit();
    expect(own?.soft).toBeGreaterThan(0);
  });

  it('leaves max_connections alone when the limit covers it and the replicas', () => {
    const fitted = fitToDescriptorLimit(config(), { soft: 65_536, hard: 65_536 }, silent);
    expect(fitted.limits.maxConnections).toBe(1024);
  });

  it('lowers it per front under a low limit, keeping what the replicas need, and says so', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const reserved = reservedDescriptors(config());
    const fitted = fitToDescriptorLimit(config(), { soft: 1024, hard: 1024 }, logger);
    // The HTTP front counts twice: it may hold as many again while refusing them.
    expect(fitted.limits.maxConnections).toBe(Math.floor((1024 - reserved) / 3));
    expect(fitted.limits.maxConnections * 3 + reserved).toBeLessThanOrEqual(1024);
    expect(lines.join('')).toContain('limits.max_connections lowered to');
    // Without the HTTP front, the FastCGI front gets it all.
    const one = fitToDescriptorLimit(
      parseConfig(
        `[listen]\nfastcgi = "unix:/a.sock"\n[release]\nsymlink = "/srv/app/current"\n[replicas]\nkind = "external"\naddresses = ["unix:/b.sock", "unix:/c.sock"]\n`,
        '/etc',
      ),
      { soft: 512, hard: 512 },
      silent,
    );
    expect(one.limits.maxConnections).toBeGreaterThan(200);
  });

  it('refuses a limit that leaves no room for clients, naming the key', () => {
    try {
      fitToDescriptorLimit(config(), { soft: 260, hard: 260 }, silent);
      expect.unreachable('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).key).toBe('limits.max_connections');
      expect((error as ConfigError).reason).toContain('LimitNOFILE=');
    }
  });

  it('keeps more aside for command replicas than for php-fpm, and for surge (also "auto")', () => {
    const command = reservedDescriptors(config());
    const noSurge = reservedDescriptors(config('', 'surge = false'));
    expect(reservedDescriptors(config('', 'surge = true'))).toBeGreaterThan(noSurge);
    // "auto" (the default) surges whenever the memory allows: the descriptors must be there too.
    expect(command).toBe(reservedDescriptors(config('', 'surge = true')));
    const phpFpm = reservedDescriptors(
      parseConfig(
        `[listen]\nfastcgi = "unix:/a.sock"\n[release]\nsymlink = "/srv/app/current"\n[replicas]\nkind = "php-fpm"\ncount = 2\ncapacity = 4\n[replicas.php_fpm]\nbinary = ${JSON.stringify(process.execPath)}\n`,
        '/etc',
      ),
    );
    expect(phpFpm).toBeLessThan(command);
    // count 8, capacity 128, php-fpm: fits a hard limit of 4096 with room for clients.
    const big = parseConfig(
      `[listen]\nfastcgi = "unix:/a.sock"\n[release]\nsymlink = "/srv/app/current"\n[replicas]\nkind = "php-fpm"\ncount = 8\ncapacity = 128\n[replicas.php_fpm]\nbinary = ${JSON.stringify(process.execPath)}\n`,
      '/etc',
    );
    expect(
      fitToDescriptorLimit(big, { soft: 4096, hard: 4096 }, silent).limits.maxConnections,
    ).toBe(1024);
  });

  it('tells descriptor exhaustion from other errors, through causes', () => {
    const emfile = Object.assign(new Error('too many'), { code: 'EMFILE' });
    expect(isDescriptorExhaustion(emfile)).toBe(true);
    expect(isDescriptorExhaustion(new Error('wrapped', { cause: emfile }))).toBe(true);
    expect(isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'ENFILE' }))).toBe(true);
    expect(isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(
      false,
    );
    expect(isDescriptorExhaustion(null)).toBe(false);
  });
});
