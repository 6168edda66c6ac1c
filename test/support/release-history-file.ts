import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeployRecord } from '../../src/control/messages.js';

/** The release switches a daemon has recorded in `<paths.state>/releases.json`, oldest first. */
export function readHistory(daemon: { readonly dir: string }): DeployRecord[] {
  const text = readFileSync(join(daemon.dir, 'state', 'releases.json'), 'utf8');
  return (JSON.parse(text) as { records: DeployRecord[] }).records;
}
