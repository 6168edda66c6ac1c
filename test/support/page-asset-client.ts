import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * The marker a page and its assets carry (fixtures/static-site: `<!-- release=r1 -->` in the
 * page, `/* release=r1 *\/` in the stylesheet): which release rendered or holds them.
 */
const RELEASE_MARKER = /release=([A-Za-z0-9._-]+)/;
const STYLESHEET_LINK = /<link rel="stylesheet" href="([^"]+)">/;

/** One fetch's outcome. */
export interface Fetched {
  readonly status: number | null;
  readonly body: string;
  /** The release the body names, or null. */
  readonly release: string | null;
  /** null when a whole response arrived. */
  readonly error: string | null;
  /** The Content-Type header, or null. */
  readonly contentType?: string | null;
}

/**
 * One browser-like client: its own keep-alive connection and cookie jar (it keeps what
 * responses set and sends it back, as a browser does), a page, then the stylesheet that page
 * links.
 */
export class PageClient {
  readonly #base: URL;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
  readonly #jar = new Map<string, string>();
  readonly #cookies: boolean;
  readonly #timeoutMs: number;
  /** The stylesheet the last page linked. */
  stylesheet: string | null = null;

  constructor(url: string, options: { cookies?: boolean; timeoutMs?: number } = {}) {
    this.#base = new URL(url);
    this.#cookies = options.cookies ?? true;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** GET the page, as a browser's navigation; remembers the stylesheet it links. */
  async page(path = '/index.php'): Promise<Fetched> {
    const fetched = await this.get(path, 'document');
    this.stylesheet = STYLESHEET_LINK.exec(fetched.body)?.[1] ?? null;
    return fetched;
  }

  /** GET the stylesheet the last page linked (or `path`). */
  asset(path?: string): Promise<Fetched> {
    const target = path ?? this.stylesheet;
    if (target === null) {
      return Promise.resolve({ status: null, body: '', release: null, error: 'no stylesheet' });
    }
    return this.get(target);
  }

  /** The cookies it holds, as it would send them. */
  get cookieHeader(): string {
    return [...this.#jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** GET `path`; `dest` is the Sec-Fetch-Dest a browser would send (`empty` for a fetch()). */
  get(path: string, dest?: string): Promise<Fetched> {
    return new Promise((resolve) => {
      const cookie = this.cookieHeader;
      const headers: Record<string, string> = {};
      if (cookie !== '') headers.cookie = cookie;
      if (dest !== undefined) headers['sec-fetch-dest'] = dest;
      const req = request(
        {
          host: this.#base.hostname,
          port: this.#base.port,
          path,
          agent: this.#agent,
          timeout: this.#timeoutMs,
          headers,
        },
        (res) => {
          if (this.#cookies) this.#keep(res.headers['set-cookie'] ?? []);
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) =>
            resolve({
              status: res.statusCode ?? null,
              body: '',
              release: null,
              error: error.message,
            }),
          );
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString();
            resolve({
              status: res.statusCode ?? null,
              body,
              release: RELEASE_MARKER.exec(body)?.[1] ?? null,
              error: null,
              contentType: res.headers['content-type'] ?? null,
            });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (error) =>
        resolve({ status: null, body: '', release: null, error: error.message }),
      );
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** `name=value` of each Set-Cookie; attributes (Path=/ and the like) are not needed here. */
  #keep(setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0) this.#jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
}

/** A page and its stylesheet, loaded one after the other by one client. */
export interface PagePair {
  readonly client: number;
  /** The release the page names, and the one its stylesheet names (null when unreadable). */
  readonly page: string | null;
  readonly asset: string | null;
  /** Epoch ms, when the page was requested and when the stylesheet's answer ended. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface PageAssetReport {
  /** Whole pairs, page and stylesheet both 200 with a release marker. */
  readonly pairs: number;
  /** Whole pairs whose page and stylesheet name different releases. */
  readonly mismatched: readonly PagePair[];
  /** Mismatched pairs per client, index = client. */
  readonly mismatchedPerClient: readonly number[];
  /** Pairs per client. */
  readonly pairsPerClient: readonly number[];
  /** Fetches that were not a whole 200 with a release marker, described. */
  readonly failures: readonly string[];
}

export interface PageAssetRun {
  /** Whole pairs so far. */
  readonly pairs: () => number;
  /** Stops after each client's current pair and reports. */
  stop(): Promise<PageAssetReport>;
}

export interface PageAssetOptions {
  /** The web server, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Clients looping at once, each a PageClient. */
  readonly clients: number;
  readonly pagePath?: string;
  /** Keep the cookies responses set (a browser does); on unless told. */
  readonly cookies?: boolean;
}

/** Bounds what a long run keeps: counts are exact, the lists keep their first entries. */
const MAX_KEPT = 1000;

/**
 * Several clients each loading the page, then its stylesheet, in a loop until stopped:
 * counts pairs, mismatched pairs (page release ≠ stylesheet release) and failures. For the
 * deploy tests and the benchmark: a deploy is atomic for pages when a client never gets a
 * page of one release with a stylesheet of another (or only the pair straddling the cut-over).
 */
export function startPageAssetClients(options: PageAssetOptions): PageAssetRun {
  let stopped = false;
  let pairs = 0;
  const mismatched: PagePair[] = [];
  const failures: string[] = [];
  const mismatchedPerClient = new Array<number>(options.clients).fill(0);
  const pairsPerClient = new Array<number>(options.clients).fill(0);
  const fail = (client: number, what: string, fetched: Fetched) => {
    if (failures.length < MAX_KEPT) {
      failures.push(
        `client ${client} ${what}: ${fetched.status ?? 'no status'} ${fetched.error ?? fetched.body.slice(0, 120)}`,
      );
    }
  };
  const loop = async (client: number) => {
    const browser = new PageClient(options.url, { cookies: options.cookies ?? true });
    try {
      while (!stopped) {
        const startedAt = performance.timeOrigin + performance.now();
        const page = await browser.page(options.pagePath);
        if (page.status !== 200 || page.release === null) {
          fail(client, 'page', page);
          continue;
        }
        const asset = await browser.asset();
        if (asset.status !== 200 || asset.release === null) {
          fail(client, `stylesheet ${browser.stylesheet ?? '(none linked)'}`, asset);
          continue;
        }
        pairs += 1;
        pairsPerClient[client] = (pairsPerClient[client] ?? 0) + 1;
        if (page.release !== asset.release) {
          mismatchedPerClient[client] = (mismatchedPerClient[client] ?? 0) + 1;
          if (mismatched.length < MAX_KEPT) {
            mismatched.push({
              client,
              page: page.release,
              asset: asset.release,
              startedAt,
              endedAt: performance.timeOrigin + performance.now(),
            });
          }
        }
      }
    } finally {
      browser.close();
    }
  };
  const running = Array.from({ length: options.clients }, (_, client) => loop(client));
  return {
    pairs: () => pairs,
    async stop() {
      stopped = true;
      await Promise.all(running);
      return { pairs, mismatched, mismatchedPerClient, pairsPerClient, failures };
    },
  };
}
