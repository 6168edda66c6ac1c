import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** System programs the integration and end-to-end tests run for real, with their Debian package. */
export const SystemTool = {
  phpFpm: { names: ['php-fpm8.2', 'php-fpm'], debianPackage: 'php8.2-fpm' },
  phpCgi: { names: ['php-cgi8.2', 'php-cgi'], debianPackage: 'php8.2-cgi' },
  nginx: { names: ['nginx'], debianPackage: 'nginx' },
  apache2: { names: ['apache2'], debianPackage: 'apache2' },
  lighttpd: { names: ['lighttpd'], debianPackage: 'lighttpd' },
  caddy: { names: ['caddy'], debianPackage: 'caddy' },
  curl: { names: ['curl'], debianPackage: 'curl' },
  chattr: { names: ['chattr'], debianPackage: 'e2fsprogs' },
  php: { names: ['php8.2', 'php'], debianPackage: 'php8.2-cli' },
  flock: { names: ['flock'], debianPackage: 'util-linux' },
  socketActivate: { names: ['systemd-socket-activate'], debianPackage: 'systemd' },
  systemdAnalyze: { names: ['systemd-analyze'], debianPackage: 'systemd' },
  python3: { names: ['python3'], debianPackage: 'python3' },
} as const;
export type SystemTool = (typeof SystemTool)[keyof typeof SystemTool];

/** Debian puts daemons in sbin, which a non-root PATH often lacks. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

function findExecutable(names: readonly string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS].filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {}
    }
  }
  return undefined;
}

/**
 * The tool's path, or undefined when it is absent and the tests needing it should skip.
 * Skipping is loud. Under CI (the `CI` variable set) a missing tool throws instead: CI
 * installs every tool in .ci/run, so a missing one there is a broken pipeline, not a skip.
 */
export function requireSystemTool(tool: SystemTool): string | undefined {
  const found = findExecutable(tool.names);
  if (found !== undefined) return found;
  const message = `${tool.names[0]} not found: install it with \`apt-get install ${tool.debianPackage}\``;
  if (process.env.CI) throw new Error(`${message} (CI is set, so this is a failure, not a skip)`);
  process.stderr.write(`\n*** SKIPPING tests that need ${message} ***\n\n`);
  return undefined;
}
