import { mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileInside } from '../../../src/static/file-inside.js';
import { makeTempDir } from '../../support/temp-dir.js';

describe('fileInside', () => {
  const temp = makeTempDir('file-inside');
  const release = join(temp.path, 'releases', '1');
  const docroot = join(release, 'public');

  beforeAll(() => {
    mkdirSync(join(docroot, 'css'), { recursive: true });
    writeFileSync(join(docroot, 'css', 'site.css'), 'body{}');
    writeFileSync(join(release, 'config.ini'), 'secret=1');
    writeFileSync(join(temp.path, 'outside.txt'), 'secret');
    // Inside the document root: fine. Out of it, to the release or beyond: refused.
    symlinkSync('css', join(docroot, 'styles'));
    symlinkSync('..', join(docroot, 'up'));
    symlinkSync(join(temp.path, 'outside.txt'), join(docroot, 'leak.txt'));
    symlinkSync(temp.path, join(docroot, 'escape'));
  });
  afterAll(() => temp.remove());

  it('finds a file, through a symlink that stays in the document root too', () => {
    expect(fileInside(docroot, null, ['css', 'site.css'])).toBe('inside');
    expect(fileInside(docroot, realpathSync(docroot), ['styles', 'site.css'])).toBe('inside');
  });

  it('passes a missing file on (the web server answers 404), checked up to where it exists', () => {
    expect(fileInside(docroot, null, ['css', 'missing.css'])).toBe('inside');
    expect(fileInside(docroot, null, ['no', 'such', 'dir.css'])).toBe('inside');
    expect(fileInside(docroot, null, ['css', 'site.css', 'below-a-file.css'])).toBe('inside');
  });

  it('refuses symlinks that lead out of the document root, whether the file exists or not', () => {
    expect(fileInside(docroot, null, ['leak.txt'])).toBe('outside');
    expect(fileInside(docroot, null, ['up', 'config.ini'])).toBe('outside');
    expect(fileInside(docroot, null, ['escape', 'outside.txt'])).toBe('outside');
    expect(fileInside(docroot, null, ['escape', 'not-there.txt'])).toBe('outside');
  });

  it('checks a deep missing path in a few lookups, not one per directory (the event loop waits)', () => {
    // 2,000 directories fit in the 4 KiB a path may have; one lookup each took ~170 ms here.
    const deep = [...Array.from({ length: 2000 }, () => 'css'), 'x.css'];
    const deepOut = ['escape', ...deep];
    let fastest = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 3; run += 1) {
      const started = performance.now();
      expect(fileInside(docroot, null, deep)).toBe('inside');
      expect(fileInside(docroot, null, deepOut)).toBe('outside');
      fastest = Math.min(fastest, performance.now() - started);
    }
    expect(fastest).toBeLessThan(20);
  });

  it('says gone when the document root itself no longer exists (a removed release)', () => {
    const other = join(temp.path, 'releases', '2', 'public');
    mkdirSync(other, { recursive: true });
    const cached = realpathSync(other);
    rmSync(join(temp.path, 'releases', '2'), { recursive: true });
    expect(fileInside(other, cached, ['css', 'site.css'])).toBe('gone');
    expect(fileInside(other, null, ['css', 'site.css'])).toBe('gone');
  });
});
