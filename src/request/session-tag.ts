/**
 * A request's session as switchyard tracks it: never the session id itself, which is a
 * secret (whoever has it is logged in), only a keyed hash of it.
 */
export interface SessionTag {
  /** 12 hex digits of a keyed hash, stable within one daemon run: what logs and status show. */
  readonly hash: string;
  /** 32 bits of the same hash: the session's point for affinity's rendezvous scores. */
  readonly point: number;
}
