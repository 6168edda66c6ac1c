import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';

const temp = makeTempDir('cfgerr');
afterAll(() => temp.remove());

/** A valid php-fpm config but for `change`; node stands in for php-fpm, which is never run. */
function configFile(name: string, change: (lines: string[]) => string[]): string {
  const lines = [
    '[listen]',
    'fastcgi = "unix:./front.sock"',
    '[release]',
    'symlink = "./current"',
    '[replicas]',
    'kind = "php-fpm"',
    'count = 2',
    '[replicas.php_fpm]',
    `binary = ${JSON.stringify(process.execPath)}`,
  ];
  const path = join(temp.path, `${name}.toml`);
  writeFileSync(path, `${change(lines).join('\n')}\n`);
  return path;
}

const replace = (prefix: string, line: string) => (lines: string[]) =>
  lines.map((entry) => (entry.startsWith(prefix) ? line : entry));

describe('switchyard daemon refuses a bad managed-replicas config with exit 78', () => {
  it.each([
    ['one replica', replace('count', 'count = 1'), 'replicas.count', 'second replica'],
    ['an unknown kind', replace('kind', 'kind = "fpm"'), 'replicas.kind', 'php-fpm, command'],
    [
      'a missing binary',
      replace('binary', 'binary = "./no-such-php-fpm"'),
      'replicas.php_fpm.binary',
      'ENOENT',
    ],
    [
      'an unreadable pool file',
      (lines: string[]) => [...lines, 'pool = "./missing-pool.conf"'],
      'replicas.php_fpm.pool',
      'cannot read',
    ],
    [
      'a surge that is not true, false or "auto"',
      (lines: string[]) => [...lines.slice(0, 7), 'surge = "sometimes"', ...lines.slice(7)],
      'replicas.surge',
      'expected true, false or "auto"',
    ],
    [
      'a surge margin that is not a size',
      (lines: string[]) => [...lines.slice(0, 7), 'surge_margin = -1', ...lines.slice(7)],
      'replicas.surge_margin',
      'not a whole number of bytes',
    ],
    [
      'an invalid duration',
      (lines: string[]) => [...lines, '[health]', 'interval = "5x"'],
      'health.interval',
      '"5x" is not a duration',
    ],
  ])('%s', async (name, change, key, reason) => {
    const path = configFile(name.replaceAll(' ', '-'), change);
    const result = await runSwitchyard(['daemon', '-c', path]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`config error: ${key}: `);
    expect(result.stderr).toContain(reason);
  });
});
