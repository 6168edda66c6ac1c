import { realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Logger } from 'pino';
import type { Config, StaticConfig } from '../config/config-types.js';
import { RateLimitedWarning } from '../rate-limited-warning.js';
import type { ReleaseHistory } from '../release/release-history.js';
import type { Dispatcher, Exchange } from '../request/exchange.js';
import { generatedResponse } from '../request/generated-response.js';
import { releaseHeaderBytes } from '../request/release-header.js';
import { fileInside } from './file-inside.js';
import { redirectLines } from './internal-redirect.js';
import { ReleaseCookie } from './release-cookie.js';
import { staticRequestPath } from './request-path.js';

/**
 * The static files' dispatcher in front of `next` when `[static]` is on, else null. Releases
 * the history says served are known to cookies from the start, so a page rendered before a
 * daemon restart still gets its own assets; a release that never served is never picked.
 */
export function staticFilesFor(
  config: Config,
  next: Dispatcher,
  servingRelease: () => string | null,
  history: ReleaseHistory | null,
  logger: Logger,
): StaticFiles | null {
  if (config.static === null || config.release.root === null) return null;
  return new StaticFiles(next, {
    config: config.static,
    releaseRoot: config.release.root,
    servingRelease,
    releaseHeader: config.response.releaseHeader,
    // Releases that served: a switch's previous one, and its target when it succeeded.
    knownReleases: (history?.entries() ?? []).flatMap((entry) =>
      entry.ok ? [entry.previous, entry.release] : [entry.previous],
    ),
    logger,
  });
}

export interface StaticFilesOptions {
  readonly config: StaticConfig;
  /** release.root as configured: redirects name files under it. */
  readonly releaseRoot: string;
  /** The balancer's serving release right now. */
  readonly servingRelease: () => string | null;
  /** `[response] release_header`, added to static answers too (nginx drops it). */
  readonly releaseHeader: string | null;
  /** Releases a cookie may name from the start (the release history's). */
  readonly knownReleases?: Iterable<string>;
  readonly logger: Logger;
}

/** One release's document root, resolved once. */
interface ReleaseSite {
  /** The release relative to release.root, or null when it is not under it. */
  readonly relative: string | null;
  readonly documentRoot: string;
  readonly documentRootReal: string | null;
  /** `[response] release_header`'s line for it, or null. */
  readonly releaseHeader: Buffer | null;
}

const MAX_SITES = 64;
const SCRIPT_NAME = 'SCRIPT_NAME';
const PATH_INFO = 'PATH_INFO';
const COOKIE = 'HTTP_COOKIE';
/** What the browser will do with the answer (Fetch Metadata); absent from older clients. */
const FETCH_DEST = 'HTTP_SEC_FETCH_DEST';
/** Answers that are pages, whose assets follow: only they name the cookie's release. */
const PAGE_DESTS: ReadonlySet<string> = new Set(['document', 'iframe', 'frame']);

/**
 * `[static]`, a Dispatcher in front of the session lanes: a request the web server marks as
 * static (the configured param) is answered here, without PHP, lanes or a balancer slot, with
 * the internal-redirect header naming the file inside the release picked for it; the web
 * server then serves the file itself. Which release: the serving one at admission, or in
 * cookie mode the one that rendered the client's page while its directory exists. Every other
 * request goes on unchanged (in cookie mode, a page is tagged so that its answer sets the
 * cookie).
 * A path that leads out of the release is answered 404 and logged, once per interval.
 */
export class StaticFiles implements Dispatcher {
  readonly #next: Dispatcher;
  readonly #options: StaticFilesOptions;
  readonly #names: readonly string[];
  readonly #cookie: ReleaseCookie | null;
  readonly #rootReal: string;
  readonly #sites = new Map<string, ReleaseSite>();
  readonly #refused: RateLimitedWarning;
  readonly #unservable: RateLimitedWarning;

  constructor(next: Dispatcher, options: StaticFilesOptions) {
    this.#next = next;
    this.#options = options;
    this.#names = [options.config.param, SCRIPT_NAME, PATH_INFO, COOKIE, FETCH_DEST];
    this.#cookie =
      options.config.release === 'cookie'
        ? new ReleaseCookie(options.config.cookie, options.knownReleases)
        : null;
    this.#rootReal = realpathOr(options.releaseRoot);
    this.#refused = new RateLimitedWarning(
      options.logger,
      'ERR_STATIC_REFUSED',
      'static request refused with 404: its path leads out of the release, names a hidden file or PHP source, or is one no web server sends',
    );
    this.#unservable = new RateLimitedWarning(
      options.logger,
      'ERR_STATIC_RELEASE',
      'static request answered 404: the release picked for it cannot serve files',
    );
  }

  dispatch(exchange: Exchange): void {
    const [flag, scriptName, pathInfo, cookie, dest] = exchange.params.values(this.#names);
    if (flag === undefined || flag === '') {
      // A fetch() or a script of an old page reaching the new release after the cut-over must
      // not move the page's later assets (a lazily loaded chunk) to that release.
      exchange.releaseLine = dest === undefined || PAGE_DESTS.has(dest) ? this.#cookie : null;
      this.#next.dispatch(exchange);
      return;
    }
    exchange.respond(this.#answer(scriptName, pathInfo, cookie));
  }

  retry(exchange: Exchange, failedOn: string | null): void {
    this.#next.retry(exchange, failedOn);
  }

  forget(exchange: Exchange): void {
    this.#next.forget(exchange);
  }

  finished(exchange: Exchange): void {
    this.#next.finished(exchange);
  }

  #answer(
    scriptName: string | undefined,
    pathInfo: string | undefined,
    cookie: string | undefined,
  ): Buffer {
    const requested = `${scriptName ?? ''}${pathInfo ?? ''}`;
    const path = staticRequestPath(scriptName, pathInfo);
    if (!path.ok) return this.#refuse(path.reason, requested);
    const serving = this.#options.servingRelease();
    const chosen = this.#cookie?.releaseOf(cookie) ?? null;
    if (chosen !== null && chosen !== serving) {
      const answer =
        this.#siteOf(chosen).relative === null
          ? null
          : this.#redirect(chosen, path.segments, requested);
      if (answer !== null) return answer;
      // The cookie's release was removed, or is outside release.root (the history of a daemon
      // with another one): its id names nothing now; the serving one answers.
      this.#cookie?.forget(chosen);
    }
    if (serving === null) return generatedResponse(503, 'no release is serving yet', 1);
    return (
      this.#redirect(serving, path.segments, requested) ??
      this.#cannotServe(serving, 'its document root does not exist')
    );
  }

  /** The answer naming the file in `release`, or null when the release's document root is gone. */
  #redirect(release: string, segments: readonly string[], requested: string): Buffer | null {
    const site = this.#siteOf(release);
    const where = fileInside(site.documentRoot, site.documentRootReal, segments);
    if (where === 'gone') {
      this.#sites.delete(release);
      return null;
    }
    if (where === 'outside') return this.#refuse('a symlink leads out of the release', requested);
    if (site.relative === null) return this.#cannotServe(release, 'it is not under release.root');
    const { config, releaseRoot } = this.#options;
    const lines = redirectLines(config, releaseRoot, {
      release: site.relative,
      documentRoot: config.documentRoot,
      segments,
    });
    if (lines === null) return this.#refuse('X-Sendfile cannot name a path with %XX', requested);
    return Buffer.concat([Buffer.from(lines), site.releaseHeader ?? EMPTY, END_OF_HEAD]);
  }

  #refuse(reason: string, requested: string): Buffer {
    // Bounded: a client chose it.
    this.#refused.note({ reason, path: requested.slice(0, 200) });
    return generatedResponse(404, 'no such file');
  }

  #cannotServe(release: string, reason: string): Buffer {
    this.#unservable.note({ release, reason });
    return generatedResponse(404, 'no such file');
  }

  #siteOf(release: string): ReleaseSite {
    const cached = this.#sites.get(release);
    if (cached !== undefined) return cached;
    const documentRoot = join(release, this.#options.config.documentRoot);
    const fromRoot = relative(this.#rootReal, release);
    const site: ReleaseSite = {
      relative:
        fromRoot === '' || fromRoot === '..' || fromRoot.startsWith(`..${sep}`) ? null : fromRoot,
      documentRoot,
      documentRootReal: realpathOrNull(documentRoot),
      releaseHeader: releaseHeaderBytes(this.#options.releaseHeader, release),
    };
    // A removed release is not kept: it is looked at again next time.
    if (site.documentRootReal === null) return site;
    if (this.#sites.size >= MAX_SITES) {
      this.#sites.delete(this.#sites.keys().next().value as string);
    }
    this.#sites.set(release, site);
    return site;
  }
}

const EMPTY = Buffer.alloc(0);
const END_OF_HEAD = Buffer.from('\r\n');

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync.native(path);
  } catch {
    return null;
  }
}

function realpathOr(path: string): string {
  return realpathOrNull(path) ?? path;
}
