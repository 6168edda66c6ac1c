import type { Config } from './config/config-types.js';
import type { FrontendLimits } from './frontend/fastcgi-client-connection.js';
import type { HttpFrontendLimits } from './frontend/http-frontend.js';

/** Attempts per request: the first, and retries on other connections or replicas. */
const MAX_ATTEMPTS = 3;

/**
 * The FastCGI front's per-client bounds from [limits]: requests beyond what the replicas hold
 * (`capacity`) and the admission queue are refused at once.
 */
export function fastCgiFrontLimits(config: Config, capacity: number): FrontendLimits {
  const { limits } = config;
  return {
    maxParamsBytes: limits.maxParamsBytes,
    retryBodyBytes: limits.retryBodyBytes,
    requestTimeoutMs: limits.requestTimeoutMs,
    maxAttempts: MAX_ATTEMPTS,
    maxConns: limits.maxConnections,
    maxReqs: capacity + limits.queue,
    requestsPerConnection: limits.requestsPerConnection,
    connectionBufferBytes: limits.connectionBufferBytes,
    paramsTimeoutMs: limits.paramsTimeoutMs,
    clientIdleTimeoutMs: limits.clientIdleTimeoutMs,
  };
}

/** The HTTP front's bounds from [limits]. */
export function httpFrontLimits(config: Config): HttpFrontendLimits {
  const { limits } = config;
  return {
    maxConnections: limits.maxConnections,
    clientIdleTimeoutMs: limits.clientIdleTimeoutMs,
    retryBodyBytes: limits.retryBodyBytes,
    requestTimeoutMs: limits.requestTimeoutMs,
    maxAttempts: MAX_ATTEMPTS,
  };
}
