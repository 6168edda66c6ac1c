import { execFile } from 'node:child_process';

/** One wrk run, as parsed from its `--latency` report. */
export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses outside 2xx/3xx. */
  readonly non2xx: number;
  /** Socket errors: connect, read, write and timeout together. */
  readonly socketErrors: number;
  /** Of those, requests with no answer within wrk's timeout (2 s). */
  readonly timeouts: number;
}

export interface WrkRun {
  readonly binary: string;
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
}

/** `wrk -t2 -c<C> -d<seconds>s --latency <url>`: two threads, one per core of the bench host. */
export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = ['-t2', `-c${run.connections}`, `-d${run.seconds}s`, '--latency', run.url];
  return new Promise((resolve, reject) => {
    execFile(run.binary, args, { timeout: (run.seconds + 30) * 1000 }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`wrk ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        return;
      }
      try {
        resolve(parseWrkOutput(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
  });
}

const UNIT_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

function duration(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  if (match === null) throw new Error(`wrk output has no ${percentile}% latency:\n${text}`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

export function parseWrkOutput(text: string): WrkResult {
  const requests = /(\d+) requests in /.exec(text);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (requests === null || rate === null) throw new Error(`unexpected wrk output:\n${text}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(requests[1]),
    requestsPerSecond: Number(rate[1]),
    p50Ms: duration(text, '50'),
    p99Ms: duration(text, '99'),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0),
    timeouts: socket === null ? 0 : Number(socket[4]),
  };
}
