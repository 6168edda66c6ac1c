import { createHash } from 'node:crypto';
import type { ReleaseResponseLine } from '../request/exchange.js';
import { sessionKeyOf } from '../sessions/session-key.js';

/** Releases remembered by id: deploy tools keep a handful; beyond this the oldest goes. */
export const MAX_KNOWN_RELEASES = 64;

/**
 * The opaque id a cookie carries for a release: 12 hex digits of a SHA-256 of its directory,
 * so it says nothing of the file system, and stays the same across daemon restarts (a browser
 * keeps its cookie through one).
 */
export function releaseId(release: string): string {
  return createHash('sha256').update(release).digest('hex').slice(0, 12);
}

/**
 * `[static] release = "cookie"`: every response a replica answers names its release in a
 * cookie (`Set-Cookie: switchyard_release=<id>; Path=/; HttpOnly; SameSite=Lax`), and a static
 * request carrying it is served from that release. Ids are known for the releases that
 * answered since the daemon started and those its history names, at most MAX_KNOWN_RELEASES,
 * the oldest forgotten first; an unknown id is no release (the caller falls back).
 */
export class ReleaseCookie implements ReleaseResponseLine {
  readonly #name: string;
  /** id → release, and each release's header line, in the order they became known. */
  readonly #releases = new Map<string, string>();
  readonly #lines = new Map<string, Buffer>();

  constructor(name: string, known: Iterable<string> = []) {
    this.#name = name;
    for (const release of known) this.lineFor(release);
  }

  /** The Set-Cookie line for a response `release` answered; it becomes known, if new. */
  lineFor(release: string): Buffer {
    let line = this.#lines.get(release);
    if (line === undefined) {
      const id = releaseId(release);
      line = Buffer.from(`Set-Cookie: ${this.#name}=${id}; Path=/; HttpOnly; SameSite=Lax\r\n`);
      if (this.#lines.size >= MAX_KNOWN_RELEASES) this.#forgetOldest();
      this.#lines.set(release, line);
      this.#releases.set(id, release);
    }
    return line;
  }

  /** The release the request's cookie names (HTTP_COOKIE), or null: none, or an unknown id. */
  releaseOf(cookieHeader: string | undefined): string | null {
    const id = sessionKeyOf(cookieHeader, undefined, { cookies: [this.#name], params: [] });
    return id === null ? null : (this.#releases.get(id) ?? null);
  }

  /** A release whose directory is gone: its id names nothing any more. */
  forget(release: string): void {
    this.#lines.delete(release);
    this.#releases.delete(releaseId(release));
  }

  get size(): number {
    return this.#lines.size;
  }

  #forgetOldest(): void {
    const oldest = this.#lines.keys().next();
    if (oldest.done !== true) this.forget(oldest.value);
  }
}
