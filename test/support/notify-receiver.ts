import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait-for.js';

/** One sd_notify datagram as systemd would see it: the sender's pid from SCM_CREDENTIALS. */
export interface NotifyMessage {
  readonly pid: number;
  readonly at: number;
  readonly fields: Readonly<Record<string, string>>;
}

export interface NotifyReceiver {
  /** The NOTIFY_SOCKET path. */
  readonly path: string;
  readonly messages: NotifyMessage[];
  /** Waits for the first message (after `from`) that `match` accepts. */
  next(
    what: string,
    match: (message: NotifyMessage) => boolean,
    options?: { timeoutMs?: number; from?: number },
  ): Promise<NotifyMessage>;
  close(): Promise<void>;
}

/**
 * A real datagram socket at `<dir>/notify.sock` (test/support/notify-receiver.py: Node has
 * no unix datagram sockets), checking each sender's credentials as systemd does.
 */
export async function startNotifyReceiver(dir: string): Promise<NotifyReceiver> {
  const path = join(dir, 'notify.sock');
  const child: ChildProcess = spawn(
    'python3',
    [join(repoRoot, 'test/support/notify-receiver.py'), path],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const messages: NotifyMessage[] = [];
  let listening = false;
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    let end = buffered.indexOf('\n');
    while (end >= 0) {
      const line = JSON.parse(buffered.slice(0, end)) as NotifyMessage & { listening?: string };
      buffered = buffered.slice(end + 1);
      if (line.listening !== undefined) listening = true;
      else messages.push(line);
      end = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => listening, { timeoutMs: 10_000, what: 'the notify receiver to bind' });
  return {
    path,
    messages,
    next: (what, match, options = {}) =>
      waitFor(() => messages.slice(options.from ?? 0).find(match) ?? null, {
        timeoutMs: options.timeoutMs ?? 30_000,
        what,
      }),
    close: async () => {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
