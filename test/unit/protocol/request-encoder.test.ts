import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FCGI_MAX_CONTENT_LENGTH, RecordType, Role } from '../../../src/protocol/constants.js';
import { decodeNameValuePairs } from '../../../src/protocol/name-value-pairs.js';
import { parseBeginRequestBody } from '../../../src/protocol/record-bodies.js';
import { encodeRequest } from '../../../src/protocol/request-encoder.js';
import { decodeChunks } from '../../support/decode-all.js';

describe('request encoder', () => {
  it('writes BEGIN_REQUEST, PARAMS, STDIN and both terminators in order', () => {
    const stdin = randomBytes(5 * 1024 * 1024);
    const params: [string, string][] = [
      ['REQUEST_METHOD', 'POST'],
      ['CONTENT_LENGTH', String(stdin.length)],
    ];
    const records = decodeChunks([encodeRequest({ requestId: 7, params, stdin, keepConn: true })]);

    expect(records[0]?.type).toBe(RecordType.BeginRequest);
    expect(parseBeginRequestBody(records[0]?.content ?? Buffer.alloc(0))).toEqual({
      role: Role.Responder,
      keepConn: true,
    });
    expect(records.every((r) => r.requestId === 7)).toBe(true);
    expect(records.every((r) => r.content.length <= FCGI_MAX_CONTENT_LENGTH)).toBe(true);

    const paramRecords = records.filter((r) => r.type === RecordType.Params);
    expect(paramRecords.at(-1)?.content.length).toBe(0);
    expect(decodeNameValuePairs(Buffer.concat(paramRecords.map((r) => r.content)))).toEqual(params);

    const stdinRecords = records.filter((r) => r.type === RecordType.Stdin);
    expect(stdinRecords.at(-1)?.content.length).toBe(0);
    const body = Buffer.concat(stdinRecords.map((r) => r.content));
    expect(createHash('sha256').update(body).digest('hex')).toBe(
      createHash('sha256').update(stdin).digest('hex'),
    );
    const lastParams = records.lastIndexOf(paramRecords.at(-1) as (typeof records)[number]);
    const firstStdin = records.indexOf(stdinRecords[0] as (typeof records)[number]);
    expect(lastParams).toBeLessThan(firstStdin);
  });

  it('sends an empty STDIN as the terminator alone', () => {
    const records = decodeChunks([encodeRequest({ requestId: 1, params: [['A', 'b']] })]);
    expect(records.map((r) => [r.type, r.content.length])).toEqual([
      [RecordType.BeginRequest, 8],
      [RecordType.Params, 4],
      [RecordType.Params, 0],
      [RecordType.Stdin, 0],
    ]);
  });
});
