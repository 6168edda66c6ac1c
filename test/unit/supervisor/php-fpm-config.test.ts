import { describe, expect, it } from 'vitest';
import {
  iniString,
  type PhpFpmConfigInput,
  phpFpmFiles,
  renderPhpFpmConfig,
  unguessableStatusPath,
} from '../../../src/supervisor/workers/php-fpm-config.js';

const INPUT: PhpFpmConfigInput = {
  name: 'replica-1',
  incarnation: 7,
  release: '/srv/app/releases/42',
  capacity: 4,
  runtimeDir: '/run/switchyard',
  health: { path: '/fpm-ping', expect: 'pong' },
  statusPath: '/switchyard-status-0123456789abcdef01234567',
  drainTimeoutMs: 30_000,
  runAs: null,
  pool: null,
};

/** `${HOME}` as text: the ini scanner would expand it, unless escaped. */
const HOME_VAR = ['$', '{HOME}'].join('');

/** Reads a double-quoted value back the way php-fpm's ini scanner does (\\, \" and \$). */
function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  expect(value.endsWith('"')).toBe(true);
  return value.slice(1, -1).replace(/\\([\\"$])/g, '$1');
}

/** The rendered text as sections of directives (the last value of a repeated key wins). */
function parse(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] ?? '', current);
      continue;
    }
    const directive = /^([^=]+?) = (.*)$/.exec(line);
    if (!directive || !current) throw new Error(`unexpected line ${JSON.stringify(line)}`);
    current.set(directive[1] ?? '', unquote(directive[2] ?? ''));
  }
  return sections;
}

function render(overrides: Partial<PhpFpmConfigInput> = {}) {
  const text = renderPhpFpmConfig({ ...INPUT, ...overrides });
  const sections = parse(text);
  return { text, global: sections.get('global'), pool: sections.get('replica-1'), sections };
}

describe('renderPhpFpmConfig', () => {
  it('writes a [global] section: pid in the runtime dir, foreground, drain timeout, notice', () => {
    const { global, sections } = render();
    expect([...sections.keys()]).toEqual(['global', 'replica-1']);
    expect(Object.fromEntries(global ?? [])).toEqual({
      pid: '/run/switchyard/replica-1.7.pid',
      daemonize: 'no',
      process_control_timeout: '30s',
      log_level: 'notice',
    });
  });

  it('rounds the drain timeout up to whole seconds, and never down to 0', () => {
    expect(render({ drainTimeoutMs: 2_001 }).global?.get('process_control_timeout')).toBe('3s');
    expect(render({ drainTimeoutMs: 1 }).global?.get('process_control_timeout')).toBe('1s');
    expect(render({ drainTimeoutMs: 0 }).global?.get('process_control_timeout')).toBe('1s');
  });

  it('writes one pool named after the replica, on its own socket, pinned to the release', () => {
    const { pool } = render();
    expect(Object.fromEntries(pool ?? [])).toEqual({
      listen: '/run/switchyard/replica-1.7.sock',
      'listen.mode': '0600',
      pm: 'static',
      'pm.max_children': '5',
      'ping.path': '/fpm-ping',
      'ping.response': 'pong',
      'pm.status_path': '/switchyard-status-0123456789abcdef01234567',
      chdir: '/srv/app/releases/42',
      catch_workers_output: 'yes',
      decorate_workers_output: 'no',
      clear_env: 'no',
      'env[SWITCHYARD_RELEASE_DIR]': '/srv/app/releases/42',
      'env[SWITCHYARD_REPLICA]': 'replica-1',
    });
  });

  it('starts one child more than the capacity switchyard routes to', () => {
    expect(render({ capacity: 1 }).pool?.get('pm.max_children')).toBe('2');
    expect(render({ capacity: 31 }).pool?.get('pm.max_children')).toBe('32');
  });

  it('names the files after the replica and its incarnation', () => {
    expect(phpFpmFiles('/run/sy', 'replica-2', 3)).toEqual({
      config: '/run/sy/replica-2.3.conf',
      socket: '/run/sy/replica-2.3.sock',
      pid: '/run/sy/replica-2.3.pid',
      slowlog: '/run/sy/replica-2.3.slow.log',
    });
  });

  it("sets no slow log unless asked, and php-fpm's slow log in the runtime dir when asked", () => {
    expect(render().pool?.has('request_slowlog_timeout')).toBe(false);
    expect(render({ slowlogMs: null }).pool?.has('slowlog')).toBe(false);
    const pool = render({ slowlogMs: 5_000 }).pool;
    expect(pool?.get('request_slowlog_timeout')).toBe('5s');
    expect(pool?.get('slowlog')).toBe('/run/switchyard/replica-1.7.slow.log');
    expect(() => render({ slowlogMs: 1_500 })).toThrow('whole seconds');
  });

  it('sets user and group only when running as root, and leaves listen.owner alone', () => {
    const asRoot = render({ runAs: { user: 'www-data', group: 'www-data' } }).pool;
    expect(asRoot?.get('user')).toBe('www-data');
    expect(asRoot?.get('group')).toBe('www-data');
    expect(asRoot?.has('listen.owner')).toBe(false);
    expect(asRoot?.has('listen.group')).toBe(false);
    const asUser = render().pool;
    expect(asUser?.has('user')).toBe(false);
    expect(asUser?.has('group')).toBe(false);
  });

  it('answers the ping with the expected text, or "pong" when any body will do', () => {
    expect(render({ health: { path: '/ping', expect: 'ok' } }).pool?.get('ping.response')).toBe(
      'ok',
    );
    expect(render({ health: { path: '/ping', expect: '' } }).pool?.get('ping.response')).toBe(
      'pong',
    );
  });

  it('gives the status page a path nobody can guess: 96 random bits, new each time', () => {
    const paths = new Set(Array.from({ length: 100 }, () => unguessableStatusPath()));
    expect(paths.size).toBe(100);
    for (const path of paths) expect(path).toMatch(/^\/switchyard-status-[0-9a-f]{24}$/);
  });

  it('appends the pool file verbatim, after a comment naming it and after every directive of ours', () => {
    const directives = 'pm.max_requests = 500\nphp_admin_value[memory_limit] = 256M\n';
    const { text, pool } = render({ pool: { path: '/etc/switchyard/pool.conf', directives } });
    expect(text.endsWith(`; Pool directives from /etc/switchyard/pool.conf:\n${directives}`)).toBe(
      true,
    );
    expect(pool?.get('pm.max_requests')).toBe('500');
    expect(pool?.get('php_admin_value[memory_limit]')).toBe('256M');
    const without = render({ pool: { path: '/p.conf', directives: 'pm.max_requests = 9' } }).text;
    expect(without.endsWith('pm.max_requests = 9\n')).toBe(true);
  });

  it('quotes values with spaces and ini metacharacters so php-fpm reads them back unchanged', () => {
    const release = `/srv/my app/rel "2"; $HOME ${HOME_VAR} \\x`;
    const expect_ = `ok; yes "fine" ${HOME_VAR} none`;
    const { text, pool } = render({ release, health: { path: '/ping', expect: expect_ } });
    expect(pool?.get('chdir')).toBe(release);
    expect(pool?.get('env[SWITCHYARD_RELEASE_DIR]')).toBe(release);
    expect(pool?.get('ping.response')).toBe(expect_);
    expect(text).toContain(`chdir = "/srv/my app/rel \\"2\\"; \\$HOME \\${HOME_VAR} \\\\x"\n`);
    expect(text).toContain(`ping.response = "ok; yes \\"fine\\" \\${HOME_VAR} none"\n`);
  });

  it('refuses what php-fpm could not read back: line breaks, control characters, $pool', () => {
    expect(() => render({ release: '/srv/a\nb' })).toThrow(/control characters/);
    expect(() => render({ health: { path: '/ping', expect: 'a\0' } })).toThrow(/control/);
    expect(() => render({ health: { path: '/ping', expect: 'my $pool' } })).toThrow(/\$pool/);
    expect(() => iniString('tab\there')).toThrow(/control characters/);
  });

  it('refuses a pool name, capacity, health path or drain timeout php-fpm would choke on', () => {
    expect(() => render({ name: 'a]b' })).toThrow(/pool/);
    expect(() => render({ name: 'global' })).toThrow(/pool/);
    expect(() => render({ capacity: 0 })).toThrow(/capacity/);
    expect(() => render({ capacity: 1.5 })).toThrow(/capacity/);
    expect(() => render({ health: { path: 'ping', expect: '' } })).toThrow(/start with/);
    expect(() => render({ drainTimeoutMs: Number.NaN })).toThrow(/drain/);
  });
});

describe('iniString', () => {
  it('double-quotes every string and escapes backslash, double quote and dollar', () => {
    expect(iniString('/run/switchyard/a.sock')).toBe('"/run/switchyard/a.sock"');
    expect(iniString('yes')).toBe('"yes"');
    expect(iniString('a\\b"c$d')).toBe('"a\\\\b\\"c\\$d"');
    expect(unquote(iniString(`a\\b"c$d ; # ${HOME_VAR}`))).toBe(`a\\b"c$d ; # ${HOME_VAR}`);
  });
});
