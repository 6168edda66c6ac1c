import { STATUS_CODES } from 'node:http';

/**
 * The CGI response switchyard writes itself when the application cannot answer: a real
 * response with a status, a short text body and, for 503, a Retry-After, so that the web
 * server passes a clear answer on instead of a hang or a reset.
 */
export function generatedResponse(
  status: number,
  message: string,
  retryAfterSeconds?: number,
): Buffer {
  const body = `${status} ${STATUS_CODES[status] ?? ''}: ${message}\n`;
  const lines = [
    `Status: ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'X-Switchyard: generated',
  ];
  if (retryAfterSeconds !== undefined) lines.push(`Retry-After: ${retryAfterSeconds}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
