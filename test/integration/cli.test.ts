import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/repo-root.js';

const run = promisify(execFile);
const cli = ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts')];

describe('switchyard CLI', () => {
  it('prints the package version with --version and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    const { stdout } = await run(process.execPath, [...cli, '--version']);
    expect(stdout.trim()).toBe(version);
  });

  it('exits 2 with a message on an unknown option', async () => {
    const result = await run(process.execPath, [...cli, '--no-such-option']).catch((e) => e);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--no-such-option'");
  });
});
