/** "ENOENT: no such file or directory" from Node's "ENOENT: no such file or directory, open '…'". */
export function describeFsError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const described = /^([A-Z0-9]+: [^,]+)/.exec(message)?.[1];
  return described ?? (code !== undefined ? `${code}: ${message}` : message);
}
