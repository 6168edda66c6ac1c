import { addKnownRelease, type ReleasePinning } from '../request/release-pinning.js';

/** How many releases are remembered: each path rewrite looks through them. */
export const MAX_KNOWN_RELEASES = 32;

export interface KnownReleasesOptions {
  /** A release in use (desired, serving) is never forgotten. */
  readonly inUse: (release: string) => boolean;
  /** The running replicas' pinnings: `know` teaches each of them a new release. */
  readonly pinnings: () => Iterable<ReleasePinning>;
}

/**
 * Every release a replica was pinned to, newest last: replicas rewrite paths into any of them
 * to their own directory (see release-pinning). Past 32 the oldest are forgotten, so an old
 * release's paths no longer reach anything after a switch, except those still in use.
 */
export class KnownReleases {
  readonly #releases = new Set<string>();
  readonly #options: KnownReleasesOptions;

  constructor(options: KnownReleasesOptions) {
    this.#options = options;
  }

  has(release: string): boolean {
    return this.#releases.has(release);
  }

  /** All of them, for a new replica's pinning. */
  get all(): ReadonlySet<string> {
    return this.#releases;
  }

  /** `release` becomes the newest (a replica starts on it). */
  remember(release: string): void {
    this.#releases.delete(release);
    this.#releases.add(release);
    for (const old of this.#releases) {
      if (this.#releases.size <= MAX_KNOWN_RELEASES) break;
      if (!this.#options.inUse(old)) this.#releases.delete(old);
    }
  }

  /**
   * Makes every running replica rewrite paths into `release` to its own directory, before
   * anything can send such paths (the deployer's switch, before it flips the symlink).
   */
  know(release: string): void {
    if (this.#releases.has(release)) return;
    this.remember(release);
    for (const pinning of this.#options.pinnings()) addKnownRelease(pinning, release);
  }
}
