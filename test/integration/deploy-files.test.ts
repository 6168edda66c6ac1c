import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const nginx = requireSystemTool(SystemTool.nginx);
const run = promisify(execFile);

describe.skipIf(nginx === undefined)('deploy/nginx/switchyard.conf', () => {
  const temp = makeTempDir('deploy');
  afterAll(() => temp.remove());

  it('is accepted by nginx -t inside a minimal nginx.conf', async () => {
    const snippet = readFileSync(join(repoRoot, 'deploy/nginx/switchyard.conf'), 'utf8')
      .replace('listen 80;', 'listen 127.0.0.1:8999;')
      .replace('unix:/run/switchyard/app.sock', `unix:${temp.path}/app.sock`)
      // Debian's nginx.conf lives in /etc/nginx, where the relative include finds this file.
      .replace('include fastcgi_params;', 'include /etc/nginx/fastcgi_params;');
    const dir = temp.path;
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log;`,
        'events {}',
        'http {',
        `  client_body_temp_path ${dir}/body;`,
        `  fastcgi_temp_path ${dir}/fastcgi;`,
        `  proxy_temp_path ${dir}/proxy;`,
        `  uwsgi_temp_path ${dir}/uwsgi;`,
        `  scgi_temp_path ${dir}/scgi;`,
        `  access_log off;`,
        `  include ${dir}/switchyard.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'switchyard.conf'), snippet);
    const result = await run(nginx as string, [
      '-t',
      '-c',
      join(dir, 'nginx.conf'),
      '-e',
      'stderr',
    ]).catch((error: { stderr: string }) => error);
    expect(result.stderr).toContain('test is successful');
  });
});
