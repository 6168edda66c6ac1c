import { FCGI_KEEP_CONN, type ProtocolStatus } from './constants.js';
import { FcgiProtocolError } from './protocol-error.js';

/** Fixed-layout bodies of BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE (8 bytes each). */
const FIXED_BODY_LENGTH = 8;

export interface BeginRequestBody {
  readonly role: number;
  readonly keepConn: boolean;
}

export interface EndRequestBody {
  readonly appStatus: number;
  readonly protocolStatus: number;
}

function requireFixedLength(content: Buffer, what: string): void {
  if (content.length < FIXED_BODY_LENGTH) {
    throw new FcgiProtocolError(
      'ERR_FCGI_BAD_RECORD',
      `${what} body has ${content.length} bytes; it needs ${FIXED_BODY_LENGTH}`,
    );
  }
}

export function parseBeginRequestBody(content: Buffer): BeginRequestBody {
  requireFixedLength(content, 'BEGIN_REQUEST');
  return {
    role: content.readUInt16BE(0),
    keepConn: ((content[2] as number) & FCGI_KEEP_CONN) !== 0,
  };
}

export function encodeBeginRequestBody(role: number, keepConn: boolean): Buffer {
  const body = Buffer.alloc(FIXED_BODY_LENGTH);
  body.writeUInt16BE(role, 0);
  body[2] = keepConn ? FCGI_KEEP_CONN : 0;
  return body;
}

export function parseEndRequestBody(content: Buffer): EndRequestBody {
  requireFixedLength(content, 'END_REQUEST');
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4] as number };
}

export function encodeEndRequestBody(appStatus: number, protocolStatus: ProtocolStatus): Buffer {
  const body = Buffer.alloc(FIXED_BODY_LENGTH);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body[4] = protocolStatus;
  return body;
}

export function parseUnknownTypeBody(content: Buffer): number {
  requireFixedLength(content, 'UNKNOWN_TYPE');
  return content[0] as number;
}

export function encodeUnknownTypeBody(unknownType: number): Buffer {
  const body = Buffer.alloc(FIXED_BODY_LENGTH);
  body[0] = unknownType;
  return body;
}
