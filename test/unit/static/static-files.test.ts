import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaticConfig } from '../../../src/config/config-types.js';
import type {
  BackendAttempt,
  Dispatcher,
  Exchange,
  ExchangeOutcome,
} from '../../../src/request/exchange.js';
import { releaseId } from '../../../src/static/release-cookie.js';
import { StaticFiles, type StaticFilesOptions } from '../../../src/static/static-files.js';
import { admitExchange } from '../../support/admitted-exchange.js';
import { makeTempDir } from '../../support/temp-dir.js';

/** Stands in for the lanes and balancer: takes every request it is given. */
class Next implements Dispatcher {
  readonly dispatched: Exchange[] = [];
  dispatch(exchange: Exchange): void {
    const attempt: BackendAttempt = { pause() {}, resume() {}, abandon() {} };
    exchange.started(attempt);
    this.dispatched.push(exchange);
  }
  retry(): void {}
  forget(): void {}
  finished(): void {}
}

interface Sent {
  readonly exchange: Exchange;
  readonly outcome: () => ExchangeOutcome | null;
  readonly output: () => string;
}

function send(dispatcher: Dispatcher, pairs: Array<[string, string]>): Sent {
  const { exchange, settled, output } = admitExchange(dispatcher, pairs);
  return { exchange, outcome: settled, output: () => output('utf8') };
}

const asStatic = (path: string, extra: Array<[string, string]> = []): Array<[string, string]> => [
  ['SWITCHYARD_STATIC', '1'],
  ['SCRIPT_NAME', path],
  ...extra,
];

const ACCEL: StaticConfig = {
  header: 'x-accel-redirect',
  documentRoot: 'public',
  internalLocation: '/_releases/',
  release: 'serving',
  cookie: 'switchyard_release',
  param: 'SWITCHYARD_STATIC',
};

describe('StaticFiles', () => {
  const temp = makeTempDir('static-files');
  const root = join(temp.path, 'releases');
  const r1 = join(root, 'r1');
  const r2 = join(root, 'r2');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  let serving: string | null = r1;

  beforeAll(() => {
    for (const release of [r1, r2]) {
      mkdirSync(join(release, 'public'), { recursive: true });
      writeFileSync(join(release, 'public', 'style.css'), release);
    }
    symlinkSync(temp.path, join(r1, 'public', 'escape'));
  });
  afterAll(() => temp.remove());

  function staticFiles(
    next: Dispatcher,
    config: Partial<StaticConfig> = {},
    options: Partial<StaticFilesOptions> = {},
  ): StaticFiles {
    return new StaticFiles(next, {
      config: { ...ACCEL, ...config },
      releaseRoot: root,
      servingRelease: () => serving,
      releaseHeader: null,
      logger,
      ...options,
    });
  }

  it('answers a static request itself, naming the file in the serving release at admission', () => {
    const next = new Next();
    const files = staticFiles(next);
    serving = r1;
    const first = send(files, asStatic('/style.css'));
    serving = r2;
    const second = send(files, asStatic('/style.css'));
    expect(next.dispatched).toEqual([]);
    expect(first.output()).toBe('X-Accel-Redirect: /_releases/r1/public/style.css\r\n\r\n');
    expect(second.output()).toBe('X-Accel-Redirect: /_releases/r2/public/style.css\r\n\r\n');
    expect(first.outcome()).toEqual({ kind: 'answered', appStatus: 0 });
  });

  it('passes every other request on, untouched in serving mode', () => {
    const next = new Next();
    const files = staticFiles(next);
    const page = send(files, [['SCRIPT_NAME', '/index.php']]);
    const empty = send(files, [
      ['SWITCHYARD_STATIC', ''],
      ['SCRIPT_NAME', '/style.css'],
    ]);
    expect(next.dispatched).toEqual([page.exchange, empty.exchange]);
    expect(page.exchange.releaseLine).toBeNull();
  });

  it('adds the release header when one is configured, and names X-Sendfile paths', () => {
    serving = r2;
    const files = staticFiles(
      new Next(),
      { header: 'x-sendfile', internalLocation: null },
      { releaseHeader: 'X-Release' },
    );
    expect(send(files, asStatic('/style.css')).output()).toBe(
      `X-Sendfile: ${r2}/public/style.css\r\nContent-Type: text/css; charset=utf-8\r\nX-Release: r2\r\n\r\n`,
    );
  });

  it('refuses traversal with 404 and one warning line for many', () => {
    serving = r1;
    const before = lines.length;
    const files = staticFiles(new Next());
    for (const path of ['/../r2/public/style.css', '/%2e%2e/secret', '/escape/releases/r2']) {
      const sent = send(files, asStatic(path));
      expect(sent.output()).toMatch(/^Status: 404 /);
      expect(sent.output()).not.toContain('X-Accel-Redirect');
    }
    const warned = lines.slice(before);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ code: 'ERR_STATIC_REFUSED', count: 1 });
  });

  it('hands a missing file over all the same: the web server answers 404', () => {
    serving = r1;
    expect(send(staticFiles(new Next()), asStatic('/no/such.css')).output()).toBe(
      'X-Accel-Redirect: /_releases/r1/public/no/such.css\r\n\r\n',
    );
  });

  it('refuses a serving release that is not under release.root', () => {
    const elsewhere = join(temp.path, 'elsewhere');
    mkdirSync(join(elsewhere, 'public'), { recursive: true });
    serving = elsewhere;
    expect(send(staticFiles(new Next()), asStatic('/style.css')).output()).toMatch(/^Status: 404 /);
  });

  describe('in cookie mode', () => {
    it('tags every response a replica answers with its release id', () => {
      const next = new Next();
      const files = staticFiles(next, { release: 'cookie' });
      const page = send(files, [['SCRIPT_NAME', '/index.php']]);
      page.exchange.runsOn({ id: 'replica-1', release: r1 });
      page.exchange.onStdout(Buffer.from('Content-Type: text/html\r\n\r\n<html>'));
      expect(page.output()).toBe(
        `Set-Cookie: switchyard_release=${releaseId(r1)}; Path=/; HttpOnly; SameSite=Lax\r\nContent-Type: text/html\r\n\r\n<html>`,
      );
    });

    it("leaves the cookie alone on a page's fetch or script: only a page names its assets' release", () => {
      // After a cut-over an old page's fetch() reaches the new release; were the cookie set on
      // that answer, the old page's later assets (a lazily loaded chunk) would come from it.
      const files = staticFiles(new Next(), { release: 'cookie' });
      const answered = (dest: string | null) => {
        const sent = send(files, [
          ['SCRIPT_NAME', '/index.php'],
          ...(dest === null ? [] : ([['HTTP_SEC_FETCH_DEST', dest]] as Array<[string, string]>)),
        ]);
        sent.exchange.runsOn({ id: 'replica-1', release: r2 });
        sent.exchange.onStdout(Buffer.from('Content-Type: application/json\r\n\r\n{}'));
        return sent.output();
      };
      for (const dest of ['empty', 'script', 'image', 'style', 'font']) {
        expect(answered(dest), dest).not.toContain('Set-Cookie');
      }
      for (const dest of [null, 'document', 'iframe']) {
        expect(answered(dest), String(dest)).toContain(`switchyard_release=${releaseId(r2)}`);
      }
    });

    it("serves the cookie's release, then the serving one once its directory is gone", () => {
      const next = new Next();
      const files = staticFiles(next, { release: 'cookie' }, { knownReleases: [r1] });
      serving = r2;
      const cookie: Array<[string, string]> = [
        ['HTTP_COOKIE', `switchyard_release=${releaseId(r1)}`],
      ];
      expect(send(files, asStatic('/style.css', cookie)).output()).toContain('/_releases/r1/');
      expect(send(files, asStatic('/style.css')).output()).toContain('/_releases/r2/');
      expect(
        send(
          files,
          asStatic('/style.css', [['HTTP_COOKIE', 'switchyard_release=nonsense']]),
        ).output(),
      ).toContain('/_releases/r2/');
      rmSync(r1, { recursive: true });
      expect(send(files, asStatic('/style.css', cookie)).output()).toContain('/_releases/r2/');
    });

    it('serves the serving release for a cookie naming a release outside release.root', () => {
      // Known from the history of a daemon that had another release.root.
      const moved = join(temp.path, 'old-root', 'r0');
      mkdirSync(join(moved, 'public'), { recursive: true });
      writeFileSync(join(moved, 'public', 'style.css'), moved);
      const files = staticFiles(new Next(), { release: 'cookie' }, { knownReleases: [moved] });
      serving = r2;
      const cookie: Array<[string, string]> = [
        ['HTTP_COOKIE', `switchyard_release=${releaseId(moved)}`],
      ];
      expect(send(files, asStatic('/style.css', cookie)).output()).toBe(
        'X-Accel-Redirect: /_releases/r2/public/style.css\r\n\r\n',
      );
    });
  });
});
