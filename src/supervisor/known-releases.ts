/** How many releases are remembered: each path rewrite looks through them. */
export const MAX_KNOWN_RELEASES = 32;

/**
 * Every release a replica was pinned to, newest last: replicas rewrite paths into any of them
 * to their own directory (see release-pinning). Past 32 the oldest are forgotten, so an old
 * release's paths no longer reach anything after a switch, except those still in use.
 */
export class KnownReleases {
  readonly #releases = new Set<string>();

  has(release: string): boolean {
    return this.#releases.has(release);
  }

  /** All of them, for a new replica's pinning. */
  get all(): ReadonlySet<string> {
    return this.#releases;
  }

  /** `release` becomes the newest; `inUse` keeps a release from being forgotten. */
  remember(release: string, inUse: (release: string) => boolean): void {
    this.#releases.delete(release);
    this.#releases.add(release);
    for (const old of this.#releases) {
      if (this.#releases.size <= MAX_KNOWN_RELEASES) break;
      if (!inUse(old)) this.#releases.delete(old);
    }
  }
}
