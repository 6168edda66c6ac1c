import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory for one test's sockets, configs and releases. Unix socket paths must stay
 * under 108 bytes, so it lives directly in the system temp dir with a short prefix.
 */
export function makeTempDir(label: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `sy-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
