import fc from 'fast-check';
import { FCGI_NULL_REQUEST_ID, RecordType, Role } from '../src/protocol/constants.js';
import { encodeNameValuePairs, type NameValuePair } from '../src/protocol/name-value-pairs.js';
import { encodeBeginRequestBody } from '../src/protocol/record-bodies.js';
import { encodeRecord, encodeStream } from '../src/protocol/record-encoder.js';
import { phpParams } from '../test/support/fcgi-exchange.js';
import type { ProbeScript } from './fcgi-probe.js';
import { overLongRequest } from './malformed-fcgi.js';

/**
 * A run of records of one kind of client behaviour. `whole` counts the requests in it that a
 * server must answer (BEGIN_REQUEST, both streams ended), so the connection can end once
 * they are answered instead of waiting out its lifetime.
 */
interface Piece {
  readonly records: readonly Buffer[];
  readonly whole: number;
  /** Well-formed records: nothing in them makes the server wait for bytes that never come. */
  readonly clean: boolean;
}

/** One generated client connection, and the name of what it mostly was, for the tally. */
export interface FuzzConnection {
  readonly script: ProbeScript;
  readonly shape: string;
}

/** Ids web servers use (1), a few others to interleave, the management id, and any. */
const requestId = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 1, arbitrary: fc.constant(FCGI_NULL_REQUEST_ID) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 0xffff }) },
);

const text = (maxLength: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength }) },
  );

const randomPairs = fc.array(fc.tuple(text(40), text(300)), { maxLength: 24 });

/** Routes of the demo app (and some it does not have), so whole requests reach a worker. */
const route = fc.constantFrom(
  '/',
  '/release.json',
  '/fpm-ping',
  '/params?x=1',
  '/nope.php',
  '/sleep?ms=2',
  '/echo-body',
  '/fail',
);

/** Splits `bytes` into records of `type` at the cut points (anywhere, across pairs too). */
function recordsOf(type: number, id: number, bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const records: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point <= start) continue;
    records.push(encodeStream(type, id, bytes.subarray(start, point)));
    start = point;
  }
  return records;
}

const cuts = fc.array(fc.nat({ max: 70_000 }), { maxLength: 4 });

function beginRecord(id: number, role: number, flags: number): Buffer {
  const body = encodeBeginRequestBody(role, false);
  body[2] = flags;
  return encodeRecord(RecordType.BeginRequest, id, body);
}

const role = fc.oneof(
  { weight: 9, arbitrary: fc.constant(Role.Responder) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const flags = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(0, 1) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

/** A whole request as a web server would send it, its streams cut into records anywhere. */
function wholeRequest(release: string) {
  return fc
    .record({
      id: requestId,
      role,
      flags,
      params: fc.oneof(
        fc
          .tuple(route, randomPairs)
          .map(([path, extra]): NameValuePair[] => [...phpParams(release, path), ...extra]),
        randomPairs,
      ),
      paramsCuts: cuts,
      stdin: fc.uint8Array({ maxLength: 3000 }),
      stdinCuts: cuts,
    })
    .map(
      (r): Piece => ({
        records: [
          beginRecord(r.id, r.role, r.flags),
          ...recordsOf(RecordType.Params, r.id, encodeNameValuePairs(r.params), r.paramsCuts),
          encodeRecord(RecordType.Params, r.id),
          ...recordsOf(RecordType.Stdin, r.id, Buffer.from(r.stdin), r.stdinCuts),
          encodeRecord(RecordType.Stdin, r.id),
        ],
        whole: r.id === FCGI_NULL_REQUEST_ID ? 0 : 1,
        clean: true,
      }),
    );
}

/** A request begun whose params (or body) never end. */
const unfinishedRequest = fc
  .record({ id: requestId, params: randomPairs, paramsCuts: cuts, endParams: fc.boolean() })
  .map(
    (r): Piece => ({
      records: [
        beginRecord(r.id, Role.Responder, 1),
        ...recordsOf(RecordType.Params, r.id, encodeNameValuePairs(r.params), r.paramsCuts),
        ...(r.endParams ? [encodeRecord(RecordType.Params, r.id)] : []),
      ],
      whole: 0,
      clean: true,
    }),
  );

/** A params stream with a pair whose length prefix is huge or runs past its record. */
const badLengthPairs = fc
  .record({
    id: requestId,
    nameLength: fc.oneof(
      fc.integer({ min: 0, max: 127 }),
      fc.integer({ min: 128, max: 0x7fffffff }),
    ),
    valueLength: fc.oneof(
      fc.integer({ min: 0, max: 127 }),
      fc.integer({ min: 128, max: 0x7fffffff }),
    ),
    tail: fc.uint8Array({ maxLength: 64 }),
  })
  .map((r): Piece => {
    const length = (n: number) => {
      if (n < 128) return Buffer.from([n]);
      const out = Buffer.alloc(4);
      out.writeUInt32BE((n | 0x80000000) >>> 0);
      return out;
    };
    const content = Buffer.concat([length(r.nameLength), length(r.valueLength), r.tail]);
    return {
      records: [
        beginRecord(r.id, Role.Responder, 1),
        encodeRecord(RecordType.Params, r.id, content),
        encodeRecord(RecordType.Params, r.id),
        encodeRecord(RecordType.Stdin, r.id),
      ],
      whole: 0,
      clean: false,
    };
  });

/**
 * One record with every header field drawn: version, any type, id, content, padding, and a
 * content length that may lie (up to 65535 with a few bytes behind it: a truncated record).
 */
const rawRecord = fc
  .record({
    version: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, fc.integer({ min: 0, max: 255 })),
    type: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 11 }) },
      fc.integer({ min: 0, max: 255 }),
    ),
    id: requestId,
    content: fc.uint8Array({ maxLength: 400 }),
    padding: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 7 }) },
      fc.integer({ min: 0, max: 255 }),
    ),
    declared: fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      fc.integer({ min: 0, max: 0xffff }),
    ),
  })
  .map((r): Piece => {
    const header = Buffer.alloc(8);
    header[0] = r.version;
    header[1] = r.type;
    header.writeUInt16BE(r.id, 2);
    header.writeUInt16BE(r.declared ?? r.content.length, 4);
    header[6] = r.padding;
    return {
      records: [header, Buffer.from(r.content), Buffer.alloc(r.padding)],
      whole: 0,
      clean: false,
    };
  });

/** Management and stray records: GET_VALUES of random names, aborts, streams of no request. */
const strayRecord = fc
  .record({
    kind: fc.constantFrom(
      RecordType.GetValues,
      RecordType.AbortRequest,
      RecordType.Stdin,
      RecordType.Data,
      RecordType.Stdout,
      RecordType.EndRequest,
      RecordType.UnknownType,
      42,
    ),
    id: requestId,
    names: fc.array(text(40), { maxLength: 8 }),
    content: fc.uint8Array({ maxLength: 200 }),
  })
  .map((r): Piece => {
    const content =
      r.kind === RecordType.GetValues
        ? encodeNameValuePairs(r.names.map((name): NameValuePair => [name, '']))
        : Buffer.from(r.content);
    const id = r.kind === RecordType.GetValues ? FCGI_NULL_REQUEST_ID : r.id;
    return { records: [encodeRecord(r.kind, id, content)], whole: 0, clean: true };
  });

const garbage = fc
  .uint8Array({ minLength: 1, maxLength: 2000 })
  .map((bytes): Piece => ({ records: [Buffer.from(bytes)], whole: 0, clean: false }));

/** Over max_params (1 MiB by default): rare, since each costs a megabyte on the wire. */
const overLongParams = fc
  .record({ id: fc.integer({ min: 1, max: 0xffff }), extra: fc.nat({ max: 200_000 }) })
  .map((r): Piece => ({ records: [overLongRequest(r.id, r.extra)], whole: 0, clean: true }));

/** Merges the pieces' records in an order drawn by `choices`, each piece's own order kept. */
function interleave(pieces: readonly Piece[], choices: readonly number[]): Buffer[] {
  const queues = pieces.map((piece) => [...piece.records]);
  const out: Buffer[] = [];
  let k = 0;
  for (;;) {
    const open = queues.filter((queue) => queue.length > 0);
    if (open.length === 0) return out;
    const queue = open[(choices[k % Math.max(1, choices.length)] ?? 0) % open.length] as Buffer[];
    k += 1;
    out.push(queue.shift() as Buffer);
  }
}

/** Splits the bytes into the writes the client makes. */
function chunksOf(bytes: Buffer, writeCuts: readonly number[]): Buffer[] {
  const points = [...new Set(writeCuts.map((cut) => cut % (bytes.length + 1)))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

const PIECE_NAMES = [
  'whole requests',
  'unfinished requests',
  'bad pair lengths',
  'raw records',
  'stray records',
  'garbage',
] as const;

/**
 * A client connection: a few pieces (whole requests, unfinished ones, bad pair lengths, raw
 * records with lying headers, stray and management records, garbage), their records
 * interleaved or not, the bytes sometimes mutated or cut short, written in drawn chunks, then
 * closed at once, half-closed or held; sometimes the client never reads. Rarely, a params
 * stream over the daemon's limit.
 */
export function fuzzConnection(release: string): fc.Arbitrary<FuzzConnection> {
  const piece = fc.oneof(
    { weight: 5, arbitrary: wholeRequest(release).map((p) => ({ p, name: PIECE_NAMES[0] })) },
    { weight: 2, arbitrary: unfinishedRequest.map((p) => ({ p, name: PIECE_NAMES[1] })) },
    { weight: 1, arbitrary: badLengthPairs.map((p) => ({ p, name: PIECE_NAMES[2] })) },
    { weight: 3, arbitrary: rawRecord.map((p) => ({ p, name: PIECE_NAMES[3] })) },
    { weight: 1, arbitrary: strayRecord.map((p) => ({ p, name: PIECE_NAMES[4] })) },
    { weight: 1, arbitrary: garbage.map((p) => ({ p, name: PIECE_NAMES[5] })) },
  );
  const ordinary = fc
    .record({
      pieces: fc.array(piece, { minLength: 1, maxLength: 5 }),
      interleaved: fc.boolean(),
      choices: fc.array(fc.nat({ max: 8 }), { minLength: 1, maxLength: 16 }),
      mutations: fc.oneof(
        { weight: 5, arbitrary: fc.constant([]) },
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      ),
      cutAt: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.nat()),
    })
    .map((r) => {
      const pieces = r.pieces.map((entry) => entry.p);
      const records = r.interleaved
        ? interleave(pieces, r.choices)
        : pieces.flatMap((p) => p.records);
      const bytes = Buffer.concat(records);
      for (const [position, value] of r.mutations) bytes[position % bytes.length] = value;
      const cut = r.cutAt === null ? bytes.length : r.cutAt % (bytes.length + 1);
      const intact = r.mutations.length === 0 && r.cutAt === null && pieces.every((p) => p.clean);
      const names = [...new Set(r.pieces.map((entry) => entry.name))];
      return {
        bytes: bytes.subarray(0, cut),
        whole: intact ? pieces.reduce((sum, p) => sum + p.whole, 0) : 0,
        shape: names.length === 1 ? (names[0] as string) : 'mixed',
      };
    });
  const content = fc.oneof(
    { weight: 2000, arbitrary: ordinary },
    {
      weight: 1,
      arbitrary: overLongParams.map((p) => ({
        bytes: Buffer.concat(p.records),
        whole: 0,
        shape: 'over-long params',
      })),
    },
  );
  return fc
    .record({
      content,
      writeCuts: fc.array(fc.nat(), { maxLength: 5 }),
      finish: fc.oneof(
        { weight: 6, arbitrary: fc.constant('hold' as const) },
        { weight: 2, arbitrary: fc.constant('half-close' as const) },
        { weight: 1, arbitrary: fc.constant('destroy' as const) },
      ),
      deaf: fc.oneof({ weight: 49, arbitrary: fc.constant(false) }, fc.constant(true)),
      holdMs: fc.integer({ min: 1, max: 100 }),
    })
    .map(({ content: c, writeCuts, finish, deaf, holdMs }) => ({
      shape: c.shape,
      script: {
        chunks: chunksOf(c.bytes, writeCuts),
        finish,
        // Whole requests are waited for (their answers end the connection); the rest get a
        // short hold, as the daemon may be waiting for the rest of a record.
        lifetimeMs: c.whole > 0 && !deaf ? 5_000 : holdMs,
        answers: deaf ? 0 : c.whole,
        deaf,
      },
    }));
}
