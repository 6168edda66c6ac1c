import { createHash } from 'node:crypto';

/**
 * What the fixtures' download endpoints send (PHP download.php, the demo app's /stream),
 * built here independently of them: byte i is (i * 31 + 7) & 0xff, repeating every 256 bytes.
 */
export function downloadPattern(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 1) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/** sha256 (hex) of the first `size` bytes of the pattern, without holding them all. */
export function downloadPatternSha256(size: number): string {
  const tile = downloadPattern(1024 * 1024);
  const hash = createHash('sha256');
  for (let sent = 0; sent < size; sent += tile.length) hash.update(tile.subarray(0, size - sent));
  return hash.digest('hex');
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
