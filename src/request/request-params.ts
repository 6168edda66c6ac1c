import {
  type NameValuePair,
  pairSize,
  scanPairs,
  writePair,
} from '../protocol/name-value-pairs.js';
import { encodeParamsRecords } from '../protocol/params-encoder.js';
import { frameParamsStream } from '../protocol/params-framing.js';
import { PATH_PARAMS, pinParams, pinPath, type ReleasePinning } from './release-pinning.js';

/** One request's params, as the balancer and the replicas need them. */
export interface RequestParams {
  /** PARAMS records (request id 1, cut between pairs, terminated) pinned for one replica. */
  recordsFor(pinning: ReleasePinning): Buffer;
  /** One param's value (latin1), for logs and tests; undefined when absent. */
  get(name: string): string | undefined;
  /** Several params' values (latin1) in one pass, in the order of `names`; the first of a repeat. */
  values(names: readonly string[]): Array<string | undefined>;
}

/** Params built as pairs (the HTTP front, tests). */
export class PairParams implements RequestParams {
  readonly #pairs: readonly NameValuePair[];

  constructor(pairs: readonly NameValuePair[]) {
    this.#pairs = pairs;
  }

  recordsFor(pinning: ReleasePinning): Buffer {
    return encodeParamsRecords(1, pinParams(this.#pairs, pinning));
  }

  get(name: string): string | undefined {
    return this.#pairs.find(([n]) => n === name)?.[1];
  }

  values(names: readonly string[]): Array<string | undefined> {
    return names.map((name) => this.get(name));
  }
}

const PATH_NAME_LENGTHS = new Set([...PATH_PARAMS].map((name) => name.length));

interface PathParam {
  readonly name: string;
  readonly index: number;
  readonly valueStart: number;
  readonly pairEnd: number;
}

/**
 * Params as a web server sent them. The stream is scanned once for its pair boundaries
 * (which also validates it) and for the few path params release pinning may rewrite; the
 * rest is forwarded as the bytes it came in, never decoded into strings.
 */
export class WireParams implements RequestParams {
  readonly #bytes: Buffer;
  readonly #pairEnds: number[] = [];
  readonly #paths: PathParam[] = [];

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
    scanPairs(bytes, (_pairStart, nameStart, valueStart, pairEnd) => {
      const nameLength = valueStart - nameStart;
      if (PATH_NAME_LENGTHS.has(nameLength)) {
        const name = bytes.toString('latin1', nameStart, valueStart);
        if (PATH_PARAMS.has(name)) {
          this.#paths.push({ name, index: this.#pairEnds.length, valueStart, pairEnd });
        }
      }
      this.#pairEnds.push(pairEnd);
    });
  }

  recordsFor(pinning: ReleasePinning): Buffer {
    const replaced = new Map<number, Buffer>();
    for (const path of this.#paths) {
      const value = this.#bytes.toString('latin1', path.valueStart, path.pairEnd);
      const pinned = pinPath(value, pinning);
      if (pinned === value) continue;
      const pair = Buffer.allocUnsafe(pairSize(path.name, pinned));
      writePair(pair, 0, path.name, pinned);
      replaced.set(path.index, pair);
    }
    if (replaced.size === 0) return frameParamsStream(1, this.#bytes, this.#pairEnds);
    // nginx with $document_root sends the symlink path, so this runs for most requests: the
    // stream is rebuilt around the pinned pairs (a candidate for writing it in one pass).
    const parts: Buffer[] = [];
    const pairEnds: number[] = [];
    let length = 0;
    let pairStart = 0;
    this.#pairEnds.forEach((pairEnd, index) => {
      const part = replaced.get(index) ?? this.#bytes.subarray(pairStart, pairEnd);
      parts.push(part);
      length += part.length;
      pairEnds.push(length);
      pairStart = pairEnd;
    });
    return frameParamsStream(1, Buffer.concat(parts, length), pairEnds);
  }

  get(name: string): string | undefined {
    return this.values([name])[0];
  }

  values(names: readonly string[]): Array<string | undefined> {
    const bytes = this.#bytes;
    const wanted = names.map(nameBytes);
    const found: Array<string | undefined> = names.map(() => undefined);
    let missing = names.length;
    scanPairs(bytes, (_pairStart, nameStart, valueStart, pairEnd) => {
      if (missing === 0) return;
      const length = valueStart - nameStart;
      for (let i = 0; i < wanted.length; i += 1) {
        const name = wanted[i] as Buffer;
        // Compared in place: the session lanes ask on every request, and most names differ.
        if (found[i] !== undefined || name.length !== length) continue;
        if (name.compare(bytes, nameStart, valueStart) !== 0) continue;
        found[i] = bytes.toString('latin1', valueStart, pairEnd);
        missing -= 1;
      }
    });
    return found;
  }
}

/** Names asked for are a handful of constants: encoded once, not on every request. */
const NAME_BYTES = new Map<string, Buffer>();
const MAX_CACHED_NAMES = 64;

function nameBytes(name: string): Buffer {
  let bytes = NAME_BYTES.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name, 'latin1');
    if (NAME_BYTES.size < MAX_CACHED_NAMES) NAME_BYTES.set(name, bytes);
  }
  return bytes;
}
