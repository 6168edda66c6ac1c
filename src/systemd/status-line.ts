import { basename } from 'node:path';

/** What `systemctl status` shows of a running daemon. */
export interface ServiceView {
  /** The release new requests go to. */
  readonly serving: string | null;
  /** The release a switch is under way to; null when none runs. */
  readonly switchingTo: string | null;
  readonly ready: number;
  readonly total: number;
  /** What holds the operation lock ("a deploy of …", "an upgrade"), or null. */
  readonly operation: string | null;
}

/** One STATUS= line: `serving 42; 2/2 replicas ready; switching to 43`. Release names only. */
export function statusLine(view: ServiceView): string {
  const parts = [
    view.serving === null ? 'starting' : `serving ${basename(view.serving)}`,
    `${view.ready}/${view.total} replicas ready`,
  ];
  if (view.switchingTo !== null) parts.push(`switching to ${basename(view.switchingTo)}`);
  if (view.operation !== null) parts.push(view.operation.replace(/^(a|an) /, ''));
  return parts.join('; ');
}
