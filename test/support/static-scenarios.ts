import { realpathSync, rmSync } from 'node:fs';
import { expect } from 'vitest';
import type { FcgiResponse } from './fcgi-exchange.js';
import type { ManagedDaemon } from './managed-daemon.js';
import { type PageAssetReport, PageClient, startPageAssetClients } from './page-asset-client.js';
import {
  deployAlternating,
  progressOf,
  rawStaticRequest,
  SECRET,
  TRAVERSAL_PARAMS,
  TRAVERSAL_URLS,
} from './static-site.js';

/**
 * `clients` page + stylesheet clients looping through `url` while `deploys` deploys alternate
 * the two fixture releases (d1, d2, …), each deploy waited for and followed by more pairs.
 */
export async function deploysUnderPageClients(
  daemon: ManagedDaemon,
  url: string,
  options: { readonly clients: number; readonly deploys: number; readonly firstDeploy?: number },
): Promise<PageAssetReport> {
  const clients = startPageAssetClients({ url, clients: options.clients });
  try {
    await progressOf(clients.pairs, options.clients * 5, 'pairs before the first deploy');
    const first = options.firstDeploy ?? 1;
    for (let k = first; k < first + options.deploys; k += 1) {
      await deployAlternating(daemon, k);
      await progressOf(clients.pairs, options.clients * 5, `pairs after deploy ${k}`);
    }
  } catch (error) {
    // A failed deploy must not leave the clients looping; what they met says why.
    const report = await clients.stop();
    throw new Error(
      `${(error as Error).message}; the clients' first failures: ${report.failures.slice(0, 3).join(' | ')}`,
    );
  }
  return clients.stop();
}

/** The loop's pairs: no failure, and at most `perClient` mismatched pairs for each client. */
export function expectPairs(report: PageAssetReport, perClient: number): void {
  expect(report.failures).toEqual([]);
  for (const [client, count] of report.mismatchedPerClient.entries()) {
    expect(count, `client ${client}: ${JSON.stringify(report.mismatched)}`).toBeLessThanOrEqual(
      perClient,
    );
  }
  expect(report.pairs).toBeGreaterThan(0);
}

export interface AcrossCutOver {
  /** The page a client loaded before deploy `k`, and what it got after the cut-over. */
  readonly oldPage: string | null;
  readonly oldStylesheet: string | null;
  /** The old page's own script (`/assets/<old>/app.js`, only in the old release): status. */
  readonly oldScriptStatus: number | null;
  /** A client that arrived after the cut-over: its page, stylesheet, and the old script. */
  readonly newPage: string | null;
  readonly newStylesheet: string | null;
  /** Its Content-Type as the web server sent it. */
  readonly newStylesheetType: string | null;
  readonly newClientOldScriptStatus: number | null;
}

/**
 * One client loads a page, deploy `k` runs, the page fetches data (from the new release), then
 * it and a new client load assets.
 */
export async function acrossCutOver(
  daemon: ManagedDaemon,
  url: string,
  k: number,
): Promise<AcrossCutOver> {
  const old = new PageClient(url);
  const fresh = new PageClient(url);
  try {
    const oldPage = await old.page();
    await deployAlternating(daemon, k);
    // The old page fetches data: the new release answers it.
    await old.get('/index.php', 'empty');
    const newPage = await fresh.page();
    const oldScript = `/assets/${oldPage.release}/app.js`;
    const newStylesheet = await fresh.asset();
    return {
      oldPage: oldPage.release,
      oldStylesheet: (await old.asset()).release,
      oldScriptStatus: (await old.asset(oldScript)).status,
      newPage: newPage.release,
      newStylesheet: newStylesheet.release,
      newStylesheetType: newStylesheet.contentType ?? null,
      newClientOldScriptStatus: (await fresh.asset(oldScript)).status,
    };
  } finally {
    old.close();
    fresh.close();
  }
}

/**
 * Cookie mode: a client loads a page of the serving release, deploy `k` replaces it, and the
 * old release's directory is removed (deploy tools keep only a few): its cookie names nothing
 * now, and the client's stylesheet comes from the serving release.
 */
export async function afterOldReleaseRemoved(
  daemon: ManagedDaemon,
  url: string,
  k: number,
): Promise<{ readonly page: string | null; readonly stylesheet: string | null }> {
  const client = new PageClient(url);
  try {
    const page = await client.page();
    const old = realpathSync(daemon.symlink);
    await deployAlternating(daemon, k);
    rmSync(old, { recursive: true, force: true });
    return { page: page.release, stylesheet: (await client.asset()).release };
  } finally {
    client.close();
  }
}

/**
 * The traversal inputs through the web server at `url` (each refused, by the web server or by
 * switchyard, and none answering with what lies outside the release) and straight to
 * switchyard's socket (each 404 from switchyard itself); the refusals are logged, a line per
 * interval rather than per request.
 */
export async function expectTraversalRefused(daemon: ManagedDaemon, url: string): Promise<void> {
  const client = new PageClient(url);
  try {
    for (const path of TRAVERSAL_URLS) {
      const answer = await client.get(path);
      expect([400, 403, 404], `${path}: ${answer.status} ${answer.body}`).toContain(answer.status);
      expect(answer.body, path).not.toContain(SECRET.trim());
      expect(answer.body, path).not.toContain('release=');
    }
    // Symlinks and hidden files in the release: only switchyard's check stands between these
    // and the files.
    for (const path of ['/leak.css', '/escape/r1/public/style.css', '/.build/secret.css']) {
      expect((await client.get(path)).body, path).toContain('no such file');
    }
  } finally {
    client.close();
  }
  for (const params of TRAVERSAL_PARAMS) {
    const answer = await rawStaticRequest(daemon.fastcgiSocket, params);
    const what = JSON.stringify(params);
    expect(answer.status, what).toBe(404);
    expect(headerOf(answer, 'x-switchyard'), what).toBe('generated');
    expect(headerOf(answer, 'x-accel-redirect'), what).toBeUndefined();
    expect(headerOf(answer, 'x-sendfile'), what).toBeUndefined();
  }
  // A good one on the same socket is handed over: the refusals above were about the paths.
  const good = await rawStaticRequest(daemon.fastcgiSocket, { SCRIPT_NAME: '/style.css' });
  expect(headerOf(good, 'x-accel-redirect') ?? headerOf(good, 'x-sendfile')).toBeDefined();
  const logged = daemon.switchyard
    .stdout()
    .split('\n')
    .filter((line) => line.includes('ERR_STATIC_REFUSED'));
  expect(logged.length).toBeGreaterThanOrEqual(1);
  expect(logged.length).toBeLessThan(TRAVERSAL_PARAMS.length);
}

function headerOf(response: FcgiResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

/** Deploys each scenario runs in the loop. */
const DEPLOYS = 3;

/**
 * `[static] release = "serving"` behind a web server at `url` (whose stylesheets come with a
 * Content-Type matching `stylesheetType`): pairs mix only across a
 * cut-over, the stylesheet follows the toggle for an old page too, and traversal is refused.
 */
export async function servingScenario(
  daemon: ManagedDaemon,
  url: string,
  stylesheetType: RegExp,
): Promise<void> {
  const report = await deploysUnderPageClients(daemon, url, { clients: 4, deploys: DEPLOYS });
  expectPairs(report, DEPLOYS);
  const across = await acrossCutOver(daemon, url, DEPLOYS + 1);
  expect(across.newPage).not.toBe(across.oldPage);
  // The release serving when the stylesheet is asked for: the new one, for both clients.
  expect(across.oldStylesheet).toBe(across.newPage);
  expect(across.newStylesheet).toBe(across.newPage);
  expect(across.newStylesheetType).toMatch(stylesheetType);
  expect(across.oldScriptStatus).toBe(404);
  await expectTraversalRefused(daemon, url);
}

/**
 * `[static] release = "cookie"` behind a web server at `url` (stylesheets as above): no mixed pair at all; a client
 * that loaded the old page keeps getting its assets after the cut-over (a file only the old
 * release has too), a new client never gets old ones, a removed release's cookie falls back
 * to the serving release, and traversal is refused.
 */
export async function cookieScenario(
  daemon: ManagedDaemon,
  url: string,
  stylesheetType: RegExp,
): Promise<void> {
  const report = await deploysUnderPageClients(daemon, url, { clients: 4, deploys: DEPLOYS });
  expectPairs(report, 0);
  const across = await acrossCutOver(daemon, url, DEPLOYS + 1);
  expect(across.newPage).not.toBe(across.oldPage);
  expect(across.oldStylesheet).toBe(across.oldPage);
  // Its directory does not even exist in `current`.
  expect(across.oldScriptStatus).toBe(200);
  expect(across.newStylesheet).toBe(across.newPage);
  expect(across.newStylesheetType).toMatch(stylesheetType);
  expect(across.newClientOldScriptStatus).toBe(404);
  const removed = await afterOldReleaseRemoved(daemon, url, DEPLOYS + 2);
  expect(removed.stylesheet).not.toBeNull();
  expect(removed.stylesheet).not.toBe(removed.page);
  await expectTraversalRefused(daemon, url);
}
