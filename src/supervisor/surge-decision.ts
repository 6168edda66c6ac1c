/**
 * What is starting: a release switch (a surge starts `count` new replicas beside the serving
 * ones) or a rolling restart (a surge starts one spare at a time).
 */
export type SurgeChange = 'switch' | 'restart';

export interface SurgeDecision {
  readonly surge: boolean;
  /** Why, for a person: `needs 412 MiB for 2 more replicas and a 256 MiB margin, 9.8 GiB available`. */
  readonly reason: string;
}

/** Memory the extra replicas could take: the host's, or less when a cgroup limit is closer. */
export interface AvailableMemory {
  readonly bytes: number;
  /** `host`: MemAvailable; `cgroup`: a cgroup's memory.max less what it holds but inactive page cache. */
  readonly limitedBy: 'host' | 'cgroup';
}

export interface SurgeInputs {
  /** What each replica running now takes (its processes' Pss), in bytes. */
  readonly replicaBytes: readonly number[];
  /** Replicas a surge would add at once. */
  readonly extraReplicas: number;
  readonly available: AvailableMemory;
  /** Kept free beyond what the extra replicas take (`[replicas] surge_margin`). */
  readonly marginBytes: number;
}

/**
 * `surge = "auto"`: surge when the available memory covers the extra replicas, each estimated
 * as the mean of the running ones (a new release's replicas serve the same load), plus the
 * margin. Pure: the caller measures.
 */
export function decideSurge(inputs: SurgeInputs): SurgeDecision {
  const { replicaBytes, extraReplicas, available, marginBytes } = inputs;
  if (replicaBytes.length === 0) {
    return { surge: false, reason: 'no replica is running to measure' };
  }
  const total = replicaBytes.reduce((sum, bytes) => sum + bytes, 0);
  const extraBytes = Math.ceil((total / replicaBytes.length) * extraReplicas);
  const needed = extraBytes + marginBytes;
  const more = `${extraReplicas} more ${extraReplicas === 1 ? 'replica' : 'replicas'}`;
  const margin = marginBytes > 0 ? ` and a ${formatBytes(marginBytes)} margin` : '';
  const where = available.limitedBy === 'cgroup' ? " under the cgroup's memory.max" : '';
  return {
    surge: needed <= available.bytes,
    reason: `needs ${formatBytes(extraBytes)} for ${more}${margin}, ${formatBytes(available.bytes)} available${where}`,
  };
}

/** `surge = true` or `false`: nothing to measure. */
export function fixedSurge(setting: boolean): SurgeDecision {
  return { surge: setting, reason: `replicas.surge = ${setting}` };
}

/**
 * The line progress streams and `status` show: `surge: yes (…)`, or `surge: no (…): half the
 * replicas switch at a time` (a restart: one replica at a time).
 */
export function surgeMessage(decision: SurgeDecision, change: SurgeChange): string {
  if (decision.surge) return `surge: yes (${decision.reason})`;
  const instead =
    change === 'switch' ? 'half the replicas switch at a time' : 'one replica restarts at a time';
  return `surge: no (${decision.reason}): ${instead}`;
}

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** `412 MiB`, `9.8 GiB`, `300 KiB`: whole units below a GiB, tenths above. */
export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`;
  if (bytes >= MIB) return `${Math.round(bytes / MIB)} MiB`;
  return `${Math.round(bytes / KIB)} KiB`;
}
