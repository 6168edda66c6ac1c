import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { RecordType } from '../src/protocol/constants.js';
import type { NameValuePair } from '../src/protocol/name-value-pairs.js';
import { ParamsAccumulator } from '../src/protocol/params-accumulator.js';
import { RecordDecoder } from '../src/protocol/record-decoder.js';
import { encodeStream } from '../src/protocol/record-encoder.js';
import { encodeRequest } from '../src/protocol/request-encoder.js';
import { makeReleasePinning } from '../src/request/release-pinning.js';
import { WireParams } from '../src/request/request-params.js';
import { formatRate, measure } from './measure.js';

/** What nginx sends for `GET /index.php?page=2` from a browser: fastcgi_params plus headers. */
export function typicalNginxParams(): NameValuePair[] {
  return Object.entries({
    QUERY_STRING: 'page=2&sort=desc',
    REQUEST_METHOD: 'POST',
    CONTENT_TYPE: 'application/x-www-form-urlencoded',
    CONTENT_LENGTH: '128',
    SCRIPT_NAME: '/index.php',
    REQUEST_URI: '/index.php?page=2&sort=desc',
    DOCUMENT_URI: '/index.php',
    DOCUMENT_ROOT: '/srv/app/current/public',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'https',
    HTTPS: 'on',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nginx/1.22.1',
    REMOTE_ADDR: '203.0.113.7',
    REMOTE_PORT: '53122',
    SERVER_ADDR: '10.0.0.5',
    SERVER_PORT: '443',
    SERVER_NAME: 'shop.example.com',
    REDIRECT_STATUS: '200',
    SCRIPT_FILENAME: '/srv/app/current/public/index.php',
    PATH_INFO: '',
    HTTP_HOST: 'shop.example.com',
    HTTP_USER_AGENT:
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    HTTP_ACCEPT: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    HTTP_ACCEPT_LANGUAGE: 'en-GB,en;q=0.9',
    HTTP_ACCEPT_ENCODING: 'gzip, deflate, br',
    HTTP_COOKIE: 'PHPSESSID=4f9c2b1e8d7a6c5b4a3f2e1d0c9b8a7f; consent=yes; theme=dark',
    HTTP_REFERER: 'https://shop.example.com/index.php?page=1',
    HTTP_CONTENT_TYPE: 'application/x-www-form-urlencoded',
    HTTP_CONTENT_LENGTH: '128',
  });
}

/** The daemon's pinning for the typical request: nginx sent the symlink path. */
const PINNING = makeReleasePinning('/srv/app/current', '/srv/app/releases/42');

/** Node's net sockets read up to 64 KiB at a time: stream decoding is fed that way. */
const SOCKET_READ = 64 * 1024;

function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

export interface CodecRow {
  readonly case: string;
  readonly implementation: string;
  readonly opsPerSecond: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
}

export function runCodecBenchmarks(): CodecRow[] {
  const rows: CodecRow[] = [];
  const params = typicalNginxParams();
  const body = Buffer.alloc(128, 'a');
  const request = encodeRequest({ requestId: 1, params, stdin: body, keepConn: true });
  const requestRecords = countRecords([request]);

  const add = (
    name: string,
    implementation: string,
    op: () => void,
    bytes: number,
    records: number,
  ) => {
    const { opsPerSecond } = measure(op);
    rows.push({
      case: name,
      implementation,
      opsPerSecond,
      recordsPerSecond: opsPerSecond * records,
      megabytesPerSecond: (opsPerSecond * bytes) / 1e6,
    });
  };

  const requestCase = `nginx request (${params.length} params, ${body.length} B body, ${request.length} B)`;
  add(
    requestCase,
    'switchyard encode',
    () => {
      encodeRequest({ requestId: 1, params, stdin: body, keepConn: true });
    },
    request.length,
    requestRecords,
  );
  add(
    requestCase,
    'switchyard decode + scan params + pin + frame',
    () => decodeRequest(request),
    request.length,
    requestRecords,
  );
  const peer = fastcgiStreamDecoder();
  add(
    requestCase,
    'fastcgi-stream decode + params (node-fastcgi)',
    () => peer.feed(request),
    request.length,
    requestRecords,
  );

  const stdout = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < stdout.length; i += 1) stdout[i] = (i * 31 + 7) & 0xff;
  // A CGI head record first, as an application sends it, so that the body's records straddle
  // the 64 KiB reads the way they do on a real socket (aligned reads would flatter the views).
  const head = encodeStream(
    RecordType.Stdout,
    1,
    Buffer.from('Content-Type: application/octet-stream\r\n\r\n'),
  );
  const stream = Buffer.concat([head, encodeStream(RecordType.Stdout, 1, stdout, true)]);
  const streamChunks = chunked(stream, SOCKET_READ);
  const streamRecords = countRecords(streamChunks);
  const streamCase = `1 MiB STDOUT stream (${streamRecords} records, fed in 64 KiB reads)`;
  add(
    streamCase,
    'switchyard encode',
    () => {
      encodeStream(RecordType.Stdout, 1, stdout, true);
    },
    stream.length,
    streamRecords,
  );
  add(
    streamCase,
    'switchyard decode',
    () => {
      const decoder = new RecordDecoder(() => {});
      for (const chunk of streamChunks) decoder.write(chunk);
    },
    stream.length,
    streamRecords,
  );
  add(
    streamCase,
    'fastcgi-stream decode (node-fastcgi)',
    () => {
      for (const chunk of streamChunks) peer.feed(chunk);
    },
    stream.length,
    streamRecords,
  );
  return rows;
}

function countRecords(chunks: Buffer[]): number {
  let count = 0;
  const decoder = new RecordDecoder(() => {
    count += 1;
  });
  for (const chunk of chunks) decoder.write(chunk);
  return count;
}

/** What the front end does with a request: frame records, scan the params, pin them for a replica. */
function decodeRequest(bytes: Buffer): void {
  let params = new ParamsAccumulator();
  const decoder = new RecordDecoder((type, _id, content) => {
    if (type !== RecordType.Params) return;
    if (content.length > 0) params.push(content);
    else {
      new WireParams(params.finish()).recordsFor(PINNING);
      params = new ParamsAccumulator();
    }
  });
  decoder.write(bytes);
}

/** The record parser node-fastcgi is built on, fed through a stand-in stream. */
function fastcgiStreamDecoder(): { feed: (chunk: Buffer) => void } {
  const require = createRequire(import.meta.url);
  const { FastCGIStream } = require('fastcgi-stream') as {
    FastCGIStream: new (stream: EventEmitter) => EventEmitter;
  };
  const source = new EventEmitter();
  const parser = new FastCGIStream(source);
  parser.on('record', () => {});
  return { feed: (chunk) => source.emit('data', chunk) };
}

export function codecTable(rows: readonly CodecRow[]): string {
  const lines = [
    '| case | implementation | ops/s | records/s | MB/s |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.case} | ${row.implementation} | ${formatRate(row.opsPerSecond)} | ${formatRate(row.recordsPerSecond)} | ${row.megabytesPerSecond.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}
