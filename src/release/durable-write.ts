import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `text` so that after a crash or a power loss the file is either the old
 * one or the new one, whole. Written beside and renamed over (a crash mid-write leaves the old
 * file); the new file is fsynced before the rename (else the rename can reach the disk before
 * the data, leaving an empty file), and the directory after it (else the rename itself may be
 * lost). Any failure, a full disk above all, throws with the old file left in place.
 */
export function writeFileDurably(path: string, text: string, mode = 0o644): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true });
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'w', mode);
    try {
      const data = Buffer.from(text, 'utf8');
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // Not created, or already renamed.
    }
    throw error;
  }
  syncDirectory(directory);
}

function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
