import { createHmac, randomBytes } from 'node:crypto';
import type { SessionTag } from '../request/session-tag.js';

/**
 * Turns session ids into tags. The key is random per daemon run: a hash seen in a log or in
 * `status` can be matched against the same run's other lines, but not against a guessed id
 * or another run.
 */
export class SessionHasher {
  readonly #key: Buffer;

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  /** `id` is a latin1 string of the id's bytes, as params carry it. */
  tag(id: string): SessionTag {
    const digest = createHmac('sha256', this.#key).update(id, 'latin1').digest();
    return { hash: digest.toString('hex', 0, 6), point: digest.readUInt32BE(6) };
  }
}
