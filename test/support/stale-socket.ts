import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { expect } from 'vitest';

/** Leaves a socket file at `path` with nobody listening, as a process killed with SIGKILL does. */
export async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
  ]);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  expect(statSync(path).isSocket()).toBe(true);
}
