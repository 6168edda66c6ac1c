import { spawn } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ReleaseSymlinkError } from '../../../src/release/deploy-error.js';
import { flipSymlink, readSymlinkTarget } from '../../../src/release/flip-symlink.js';
import { repoRoot } from '../../support/repo-root.js';
import { makeTempDir } from '../../support/temp-dir.js';
import { waitFor } from '../../support/wait-for.js';

const temp = makeTempDir('flip');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);
let counter = 0;

/** A fresh directory with releases a and b and `current -> a`. */
function makeApp(): { dir: string; a: string; b: string; link: string } {
  counter += 1;
  const dir = join(base, `app${counter}`);
  const a = join(dir, 'releases', 'a');
  const b = join(dir, 'releases', 'b');
  mkdirSync(a, { recursive: true });
  mkdirSync(b, { recursive: true });
  const link = join(dir, 'current');
  symlinkSync(a, link);
  return { dir, a, b, link };
}

describe('flipSymlink', () => {
  it('points the link at the new target and leaves no temporary link behind', () => {
    const { dir, a, b, link } = makeApp();
    flipSymlink(link, b);
    expect(readlinkSync(link)).toBe(b);
    expect(readSymlinkTarget(link)).toBe(b);
    flipSymlink(link, a);
    expect(readSymlinkTarget(link)).toBe(a);
    expect(readdirSync(dir).sort()).toEqual(['current', 'releases']);
  });

  it('writes the target as given, relative ones included', () => {
    const { b, link } = makeApp();
    flipSymlink(link, 'releases/b');
    expect(readlinkSync(link)).toBe('releases/b');
    expect(readSymlinkTarget(link)).toBe(b);
  });

  it('creates the link when there is none yet', () => {
    const { dir, a } = makeApp();
    const link = join(dir, 'new');
    flipSymlink(link, a);
    expect(readSymlinkTarget(link)).toBe(a);
  });

  it('never replaces a real directory, and cleans up its temporary link', () => {
    const { dir, a } = makeApp();
    const notALink = join(dir, 'docroot');
    mkdirSync(notALink);
    writeFileSync(join(notALink, 'index.php'), '<?php\n');
    let error: unknown;
    try {
      flipSymlink(notALink, a);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReleaseSymlinkError);
    expect((error as ReleaseSymlinkError).code).toBe('ERR_RELEASE_SYMLINK');
    expect((error as ReleaseSymlinkError).message).toMatch(
      new RegExp(`^cannot point ${notALink} at ${a}: E(ISDIR|NOTEMPTY): `),
    );
    expect(readdirSync(notALink)).toEqual(['index.php']);
    expect(readdirSync(dir).sort()).toEqual(['current', 'docroot', 'releases']);
  });

  it('reports a directory it cannot create the link in', () => {
    const { a } = makeApp();
    const link = join(base, 'no-such-dir', 'current');
    expect(() => flipSymlink(link, a)).toThrow(
      `cannot create a symlink in ${join(base, 'no-such-dir')} to replace ${link}: ENOENT: no such file or directory`,
    );
  });

  it('never leaves a moment without the link: a reader in another process sees no ENOENT', async () => {
    const { a, b, link } = makeApp();
    // The flipping runs in its own process, so it really interleaves with the reads here.
    const script = join(base, 'flipper.mjs');
    writeFileSync(
      script,
      [
        `import { flipSymlink } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/release/flip-symlink.ts')).href)};`,
        'const [link, a, b, ms] = process.argv.slice(2);',
        'flipSymlink(link, b);',
        "process.stdout.write('started\\n');",
        'let flips = 1;',
        'const end = Date.now() + Number(ms);',
        'while (Date.now() < end) { flipSymlink(link, flips % 2 === 0 ? b : a); flips += 1; }',
        "process.stdout.write('flips ' + flips + '\\n');",
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, link, a, b, '1500'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await waitFor(() => output.includes('started'), {
      timeoutMs: 15_000,
      what: `the flipper to start (output: ${output})`,
    });

    // About a second of reads while the other process flips, as fast as they go.
    const seen = new Map<string, number>();
    const errors = new Map<string, number>();
    let reads = 0;
    const end = Date.now() + 1_000;
    while (Date.now() < end) {
      reads += 1;
      try {
        const resolved = realpathSync(link);
        seen.set(resolved, (seen.get(resolved) ?? 0) + 1);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
    }

    expect(await exited).toBe(0);
    const flips = Number(/flips (\d+)/.exec(output)?.[1]);
    expect(flips).toBeGreaterThanOrEqual(200);
    expect(Object.fromEntries(errors)).toEqual({});
    // Both releases were seen: the reads really overlapped the flipping.
    expect([...seen.keys()].sort()).toEqual([a, b]);
    expect(reads).toBeGreaterThan(1_000);
  });
});

describe('readSymlinkTarget', () => {
  it('resolves every level of links', () => {
    const { dir, b, link } = makeApp();
    symlinkSync('b', join(dir, 'releases', 'latest'));
    flipSymlink(link, join(dir, 'releases', 'latest'));
    expect(readSymlinkTarget(link)).toBe(b);
  });

  it.each([
    ['a missing link', 'missing'],
    ['a dangling link', 'dangling'],
  ])('throws a ReleaseSymlinkError for %s', (_what, name) => {
    const { dir } = makeApp();
    const link = join(dir, name);
    if (name === 'dangling') symlinkSync(join(dir, 'releases', 'gone'), link);
    let error: unknown;
    try {
      readSymlinkTarget(link);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReleaseSymlinkError);
    expect((error as ReleaseSymlinkError).symlink).toBe(link);
    expect((error as ReleaseSymlinkError).message).toBe(
      `release symlink ${link} does not exist or leads to a missing directory`,
    );
  });
});
