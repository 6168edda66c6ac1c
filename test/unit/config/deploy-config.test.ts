import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../src/config/config-error.js';
import type { Config } from '../../../src/config/config-types.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { configErrorOf } from '../../support/config-refusal.js';

const BASE_DIR = '/etc/switchyard';

const LISTEN = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"
`;

const REPLICAS = `
[replicas]
kind = "external"
addresses = ["unix:/run/php/a.sock", "unix:/run/php/b.sock"]
`;

const RELEASE = `
[release]
symlink = "/srv/app/current"
`;

/** A config of [listen], [release] (with `releaseLines`), [replicas] and `rest`. */
function configText(rest = '', releaseLines = ''): string {
  return `${LISTEN}${RELEASE}${releaseLines}\n${REPLICAS}${rest}`;
}

function parse(text: string): Config {
  return parseConfig(text, BASE_DIR);
}

/** The ConfigError parseConfig throws for `text`. */
function configError(text: string): ConfigError {
  return configErrorOf(() => parse(text));
}

describe('release.root, [deploy] and [response]', () => {
  it('defaults: no root, no warm-up, 10s per warm-up request, 5m per deploy, no release header', () => {
    const config = parse(configText());
    expect(config.release).toStrictEqual({ symlink: '/srv/app/current', root: null });
    expect(config.deploy).toStrictEqual({
      warmup: [],
      warmupTimeoutMs: 10_000,
      timeoutMs: 300_000,
    });
    expect(config.response).toStrictEqual({ releaseHeader: null });
  });

  it('reads every key', () => {
    const config = parse(
      configText(
        `
[deploy]
warmup = ["/", "/index.php", "/search.php?q=warm&page=1"]
warmup_timeout = "3s"
timeout = "90s"

[response]
release_header = "X-Release"
`,
        'root = "/srv/app/releases"',
      ),
    );
    expect(config.release).toStrictEqual({
      symlink: '/srv/app/current',
      root: '/srv/app/releases',
    });
    expect(config.deploy).toStrictEqual({
      warmup: ['/', '/index.php', '/search.php?q=warm&page=1'],
      warmupTimeoutMs: 3_000,
      timeoutMs: 90_000,
    });
    expect(config.response).toStrictEqual({ releaseHeader: 'X-Release' });
  });

  it('resolves a relative release.root against the config directory and normalises it', () => {
    expect(parse(configText('', 'root = "../srv/releases/"')).release.root).toBe(
      '/etc/srv/releases',
    );
    expect(parse(configText('', 'root = "./releases"')).release.root).toBe(
      '/etc/switchyard/releases',
    );
    expect(parse(configText('', 'root = "/srv//app/releases/"')).release.root).toBe(
      '/srv/app/releases',
    );
  });

  it('accepts any header token, in any case, that is not reserved', () => {
    for (const name of ['x-release', "X-My_App.Release!#$%&'*+^`|~1"]) {
      const text = configText(`[response]\nrelease_header = ${JSON.stringify(name)}\n`);
      expect(parse(text).response.releaseHeader).toBe(name);
    }
  });

  it.each([
    {
      problem: 'a bare relative release.root',
      text: configText('', 'root = "releases"'),
      key: 'release.root',
      reason:
        '"releases" must be an absolute path, or start with ./ or ../ to be relative to the config file',
    },
    {
      problem: 'a release.root of the wrong type',
      text: configText('', 'root = true'),
      key: 'release.root',
      reason: 'expected a string, got boolean true',
    },
    {
      problem: 'a typo in [release]',
      text: configText('', 'roots = "/srv/app/releases"'),
      key: 'release.roots',
      reason: 'unknown key; known keys: symlink, root',
    },
    {
      problem: 'a warm-up path without a leading slash',
      text: configText('[deploy]\nwarmup = ["/", "index.php"]\n'),
      key: 'deploy.warmup[1]',
      reason: '"index.php" must start with "/", e.g. "/index.php"',
    },
    {
      problem: 'a warm-up path with a space',
      text: configText('[deploy]\nwarmup = ["/a b"]\n'),
      key: 'deploy.warmup[0]',
      reason: '"/a b" must not contain spaces or control characters',
    },
    {
      problem: 'a warm-up path with a control character',
      text: configText('[deploy]\nwarmup = ["/a\\u0007"]\n'),
      key: 'deploy.warmup[0]',
      reason: '"/a\\u0007" must not contain spaces or control characters',
    },
    {
      problem: 'a warm-up path with a .. segment',
      text: configText('[deploy]\nwarmup = ["/shop/../index.php"]\n'),
      key: 'deploy.warmup[0]',
      reason: '"/shop/../index.php" has a .. segment: write it as a web server sends it',
    },
    {
      problem: 'a warm-up path with an escaped . segment',
      text: configText('[deploy]\nwarmup = ["/shop/%2e/index.php"]\n'),
      key: 'deploy.warmup[0]',
      reason: '"/shop/%2e/index.php" has a . segment: write it as a web server sends it',
    },
    {
      problem: 'a warm-up path with a broken %-escape',
      text: configText('[deploy]\nwarmup = ["/100%"]\n'),
      key: 'deploy.warmup[0]',
      reason: '"/100%" has a broken %-escape: write it as a web server sends it',
    },
    {
      problem: 'a warm-up path written as a string',
      text: configText('[deploy]\nwarmup = "/"\n'),
      key: 'deploy.warmup',
      reason: 'expected an array, got string "/"',
    },
    {
      problem: 'a warm-up path of the wrong type',
      text: configText('[deploy]\nwarmup = [1]\n'),
      key: 'deploy.warmup[0]',
      reason: 'expected a string, got integer 1',
    },
    {
      problem: 'a zero warm-up timeout',
      text: configText('[deploy]\nwarmup_timeout = "0s"\n'),
      key: 'deploy.warmup_timeout',
      reason: 'must be longer than 0',
    },
    {
      problem: 'a warm-up timeout without a unit',
      text: configText('[deploy]\nwarmup_timeout = 10\n'),
      key: 'deploy.warmup_timeout',
      reason: 'expected a duration such as "5s", got integer 10',
    },
    {
      problem: 'a zero deploy timeout',
      text: configText('[deploy]\ntimeout = "0"\n'),
      key: 'deploy.timeout',
      reason: 'must be longer than 0',
    },
    {
      problem: 'an invalid deploy timeout',
      text: configText('[deploy]\ntimeout = "5 minutes"\n'),
      key: 'deploy.timeout',
      reason: '"5 minutes" is not a duration: use e.g. 500ms, 5s, 2m',
    },
    {
      problem: 'a typo in [deploy]',
      text: configText('[deploy]\nwarmup_timout = "1s"\n'),
      key: 'deploy.warmup_timout',
      reason: 'unknown key; known keys: warmup, warmup_timeout, timeout',
    },
    {
      problem: 'a release header with a space',
      text: configText('[response]\nrelease_header = "X Release"\n'),
      key: 'response.release_header',
      reason:
        '"X Release" is not a header name: letters, digits and !#$%&\'*+-.^_`|~ only, e.g. "X-Release"',
    },
    {
      problem: 'a release header with a colon',
      text: configText('[response]\nrelease_header = "X-Release:"\n'),
      key: 'response.release_header',
      reason:
        '"X-Release:" is not a header name: letters, digits and !#$%&\'*+-.^_`|~ only, e.g. "X-Release"',
    },
    {
      problem: 'an empty release header',
      text: configText('[response]\nrelease_header = ""\n'),
      key: 'response.release_header',
      reason:
        '"" is not a header name: letters, digits and !#$%&\'*+-.^_`|~ only, e.g. "X-Release"',
    },
    {
      problem: 'a release header of the wrong type',
      text: configText('[response]\nrelease_header = true\n'),
      key: 'response.release_header',
      reason: 'expected a string, got boolean true',
    },
    {
      problem: 'a typo in [response]',
      text: configText('[response]\nrelease_headers = "X-Release"\n'),
      key: 'response.release_headers',
      reason: 'unknown key; known keys: release_header',
    },
  ])('names the key and the reason for $problem', ({ text, key, reason }) => {
    const error = configError(text);
    expect({ key: error.key, reason: error.reason }).toEqual({ key, reason });
  });

  it.each([
    'Status',
    'content-type',
    'Content-Length',
    'LOCATION',
    'Transfer-Encoding',
    'connection',
  ])('refuses %s as the release header', (name) => {
    const error = configError(configText(`[response]\nrelease_header = "${name}"\n`));
    expect(error.key).toBe('response.release_header');
    expect(error.reason).toBe(
      `"${name}" already has a meaning in a FastCGI or HTTP response; use another name, e.g. "X-Release"`,
    );
  });
});
