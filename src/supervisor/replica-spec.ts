import type { ReplicaSpec } from '../balancer/replica-pool.js';
import { releaseHeaderBytes } from '../request/release-header.js';
import { makeReleasePinning } from '../request/release-pinning.js';
import { type Slot, slotName } from './slot.js';
import type { Worker } from './workers/worker.js';

/** What a replica's spec depends on beyond its slot. */
export interface ReplicaSpecContext {
  /** The configured replica count. */
  readonly count: number;
  readonly capacity: number;
  /** The release symlink: paths through it are pinned to the replica's release. */
  readonly symlink: string;
  readonly knownReleases: ReadonlySet<string>;
  /** `[response] release_header`, or null. */
  readonly releaseHeader: string | null;
}

/** What the balancer knows of a ready replica: the one place it is built. */
export function replicaSpecFor(
  record: Pick<Slot, 'slot' | 'name' | 'incarnation' | 'release'>,
  worker: Worker,
  context: ReplicaSpecContext,
): ReplicaSpec {
  return {
    id: `${record.name}.${record.incarnation}`,
    // A surge spare (slot count and up) stands in for the slot it mirrors: the replica a
    // rolling restart replaces first, or its twin across a deploy's cut-over. So a spare
    // takes over the sessions of the replica it replaces, not a share of everyone's.
    slot: slotName(record.slot % context.count),
    address: worker.address,
    capacity: context.capacity,
    release: record.release,
    pinning: makeReleasePinning(context.symlink, record.release, context.knownReleases),
    responseHeader: releaseHeaderBytes(context.releaseHeader, record.release),
    replaceable: true,
  };
}
