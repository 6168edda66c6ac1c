/**
 * EMFILE (this process) or ENFILE (the whole system) out of file descriptors. The peer is not
 * at fault then: a replica whose connect fails this way is not unreachable, and a health check
 * that cannot even open its socket says nothing about the replica.
 */
export function isDescriptorExhaustion(error: unknown): boolean {
  for (let cause: unknown = error, depth = 0; cause != null && depth < 4; depth += 1) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
