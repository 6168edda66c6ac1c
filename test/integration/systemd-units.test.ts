import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const systemdAnalyze = requireSystemTool(SystemTool.systemdAnalyze);
const run = promisify(execFile);
const UNITS = ['switchyard.service', 'switchyard.socket', 'switchyard-control.socket'];

const unit = (name: string) => readFileSync(join(repoRoot, 'deploy/systemd', name), 'utf8');

/** `Key=value` lines of a unit file, in order (a key may repeat). */
function values(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

describe('the shipped systemd units (deploy/systemd/)', () => {
  it.skipIf(systemdAnalyze === undefined)('pass systemd-analyze verify', async () => {
    const temp = makeTempDir('systemd-units');
    cleanup = temp.remove;
    for (const name of UNITS) {
      // The binary is where `npm install -g` puts it, which this machine need not have.
      writeFileSync(
        join(temp.path, name),
        unit(name).replace('/usr/local/bin/switchyard', process.execPath),
      );
    }
    const { stdout, stderr } = await run(
      systemdAnalyze as string,
      ['verify', '--man=no', ...UNITS.map((name) => join(temp.path, name))],
      { cwd: temp.path },
    );
    expect(`${stdout}${stderr}`).toBe('');
  });

  it('the socket units name the sockets the shipped config names, and the daemon can tell them apart', () => {
    const config = parse(readFileSync(join(repoRoot, 'deploy/switchyard.toml'), 'utf8')) as {
      listen: { fastcgi: string };
      control: { socket: string };
    };
    expect(values(unit('switchyard.socket'), 'ListenStream')).toEqual([
      config.listen.fastcgi.replace(/^unix:/, ''),
    ]);
    expect(values(unit('switchyard-control.socket'), 'ListenStream')).toEqual([
      config.control.socket,
    ]);
    expect(values(unit('switchyard.socket'), 'FileDescriptorName')).toEqual(['fastcgi']);
    expect(values(unit('switchyard-control.socket'), 'FileDescriptorName')).toEqual(['control']);
    const service = unit('switchyard.service');
    expect(values(service, 'Type')).toEqual(['notify']);
    expect(values(service, 'NotifyAccess')).toEqual(['all']);
    expect(values(service, 'KillMode')).toEqual(['mixed']);
    // The socket files live in the runtime directory: a restart must not delete it.
    expect(values(service, 'RuntimeDirectoryPreserve')).toEqual(['yes']);
    expect(values(service, 'WatchdogSec')).toHaveLength(1);
  });
});
