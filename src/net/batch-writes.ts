import type { Socket } from 'node:net';

const corked = new WeakSet<Socket>();

/**
 * Holds the socket's writes until the end of the current tick, so that everything written
 * while handling one read (a response's records and END_REQUEST; BEGIN_REQUEST, PARAMS and
 * the STDIN that came with them) leaves in one writev instead of one syscall per write.
 * Back-pressure still works: write() returns false past the high-water mark while corked.
 */
export function batchWritesThisTick(socket: Socket): void {
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(uncork, socket);
}

function uncork(socket: Socket): void {
  corked.delete(socket);
  socket.uncork();
}
