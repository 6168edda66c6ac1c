import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPoolFile } from '../../../src/config/php-fpm-pool.js';
import { repoRoot } from '../../support/repo-root.js';

describe('deploy/php-fpm/pool.conf', () => {
  it('passes the pool-file rules the config loader applies', () => {
    expect(() => checkPoolFile(join(repoRoot, 'deploy/php-fpm/pool.conf'))).not.toThrow();
  });
});
