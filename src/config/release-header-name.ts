/** RFC 7230 token: the characters a header field name may have. */
export const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Headers that steer the FastCGI answer or the HTTP framing (CGI's Status and Location, the
 * body's length and encoding): a release header by one of these names would break responses.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'status',
  'content-type',
  'content-length',
  'location',
  'transfer-encoding',
  'connection',
]);

/** Why `name` cannot be the release header, or null when it can (also used by the data plane). */
export function releaseHeaderNameProblem(name: string): string | null {
  if (!HEADER_TOKEN.test(name)) {
    return `${JSON.stringify(name)} is not a header name: letters, digits and !#$%&'*+-.^_\`|~ only, e.g. "X-Release"`;
  }
  if (RESERVED_HEADERS.has(name.toLowerCase())) {
    return `${JSON.stringify(name)} already has a meaning in a FastCGI or HTTP response; use another name, e.g. "X-Release"`;
  }
  return null;
}
