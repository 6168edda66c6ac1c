import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/repo-root.js';
import { freePort, runSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

describe('the embedded demo (npm start)', () => {
  const temp = makeTempDir('start');
  let demo: ChildProcess | undefined;
  afterAll(() => {
    if (demo && demo.exitCode === null) demo.kill('SIGKILL');
    temp.remove();
  });

  it('runs two replicas itself behind the HTTP front, and Ctrl-C stops every process', async () => {
    const port = await freePort();
    demo = spawn(process.execPath, [join(repoRoot, 'fixtures/demo/run-demo.mjs')], {
      env: {
        ...process.env,
        DEMO_STATE_DIR: temp.path,
        DEMO_HTTP_PORT: String(port),
        DEMO_JSON_LOGS: '1',
        DEMO_CLI: JSON.stringify(['--import', 'tsx', join(repoRoot, 'src/cli/main.ts')]),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) =>
      demo?.once('exit', (code) => resolve(code)),
    );
    await waitFor(() => output.includes('switchyard demo is up'), {
      timeoutMs: 15_000,
      what: 'the demo',
    });
    expect(output).toContain(`curl http://127.0.0.1:${port}/`);
    // The demo keeps deploys to its own releases: no warning about release.root.
    expect(output).not.toContain('release.root is not set');

    const pids = new Set<number>();
    for (let i = 0; i < 10; i += 1) {
      const page = (await (await fetch(`http://127.0.0.1:${port}/release.json`)).json()) as {
        release: string;
        pid: number;
      };
      expect(page.release).toBe('v1');
      pids.add(page.pid);
    }
    // Two replicas of five processes each (capacity 4, plus one for health checks).
    expect(pids.size).toBeGreaterThanOrEqual(2);

    // The printed session-lanes line: one session's three requests run one after the other.
    expect(output).toContain("curl -s -b PHPSESSID=me 'http://127.0.0.1:");
    const sessionStart = Date.now();
    await Promise.all(
      [1, 2, 3].map(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/sleep?ms=500`, {
          headers: { cookie: 'PHPSESSID=me' },
        });
        expect(response.status).toBe(200);
        await response.text();
      }),
    );
    expect(Date.now() - sessionStart).toBeGreaterThanOrEqual(1_450);

    const status = await runSwitchyard(['status', '-c', join(temp.path, 'switchyard.toml')]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(
      /^sessions 0 lanes, 0 waiting \(1 per session, affinity none\)$/m,
    );
    expect(status.stdout).toMatch(/replica-1\s+ready/);
    expect(status.stdout).toMatch(/replica-2\s+ready/);

    const config = join(temp.path, 'switchyard.toml');
    const deployed = await runSwitchyard([
      'deploy',
      join(repoRoot, 'fixtures/demo/releases/v2'),
      '-c',
      config,
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const after = (await (await fetch(`http://127.0.0.1:${port}/release.json`)).json()) as {
      release: string;
    };
    expect(after.release).toBe('v2');
    const rolledBack = await runSwitchyard(['rollback', '-c', config]);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    const back = (await (await fetch(`http://127.0.0.1:${port}/release.json`)).json()) as {
      release: string;
    };
    expect(back.release).toBe('v1');
    const running = JSON.parse(
      (await runSwitchyard(['status', '--json', '-c', config])).stdout,
    ) as {
      replicas: Array<{ pids: number[] }>;
    };
    for (const replica of running.replicas) for (const pid of replica.pids) pids.add(pid);

    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
