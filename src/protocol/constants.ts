/** FastCGI 1.0 wire constants (https://fast-cgi.github.io/spec). */

export const FCGI_VERSION_1 = 1;
export const FCGI_HEADER_LENGTH = 8;
/** The content length field is 16 bits. */
export const FCGI_MAX_CONTENT_LENGTH = 0xffff;
/** Requests use ids 1..65535; 0 is reserved for management records. */
export const FCGI_NULL_REQUEST_ID = 0;
/** fd 0 of a FastCGI application is its listening socket (FCGI_LISTENSOCK_FILENO). */
export const FCGI_LISTENSOCK_FILENO = 0;

export const RecordType = {
  BeginRequest: 1,
  AbortRequest: 2,
  EndRequest: 3,
  Params: 4,
  Stdin: 5,
  Stdout: 6,
  Stderr: 7,
  Data: 8,
  GetValues: 9,
  GetValuesResult: 10,
  UnknownType: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Highest type the spec defines; types above it are answered with UNKNOWN_TYPE. */
export const FCGI_MAXTYPE = RecordType.UnknownType;

export const Role = {
  Responder: 1,
  Authorizer: 2,
  Filter: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** BEGIN_REQUEST flag: keep the connection open after END_REQUEST. */
export const FCGI_KEEP_CONN = 1;

export const ProtocolStatus = {
  RequestComplete: 0,
  CantMultiplexConnections: 1,
  Overloaded: 2,
  UnknownRole: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** Variable names an application is asked for in GET_VALUES. */
export const ManagementVariable = {
  MaxConns: 'FCGI_MAX_CONNS',
  MaxReqs: 'FCGI_MAX_REQS',
  MpxsConns: 'FCGI_MPXS_CONNS',
} as const;

/** Default cap on one request's PARAMS stream, in bytes. */
export const DEFAULT_MAX_PARAMS_BYTES = 1024 * 1024;

/** Streams are split at a multiple of 8 so that only the last record needs padding. */
export const FCGI_STREAM_CHUNK = FCGI_MAX_CONTENT_LENGTH & ~7;
