/**
 * `uri` as logs and status may show it: the value of every query parameter that carries a
 * session id (`[sessions] params`, e.g. `PHPSESSID`) replaced by `…`, since whoever has the id
 * is logged in. Names are compared as PHP reads them (%-decoded, `+` a space); nothing here
 * throws, whatever the client sent.
 */
export function uriWithoutSession(uri: string, params: readonly string[]): string {
  const mark = uri.indexOf('?');
  if (mark === -1 || params.length === 0) return uri;
  const query = uri
    .slice(mark + 1)
    .split('&')
    .map((piece) => {
      const eq = piece.indexOf('=');
      const rawName = eq === -1 ? piece : piece.slice(0, eq);
      return params.includes(decoded(rawName)) ? `${rawName}=…` : piece;
    });
  return `${uri.slice(0, mark)}?${query.join('&')}`;
}

function decoded(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}
