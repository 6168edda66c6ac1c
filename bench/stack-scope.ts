import { DeployStack, type ReleaseSources } from './deploy-stack.js';

/**
 * Runs `body` with one stack per label, all closed afterwards whatever happens. A ^C or
 * SIGTERM closes them too (php-fpm masters run in their own process groups); the handler
 * stays while closing: tsx relays the signal, and a second one would kill us. Several stacks
 * at once let a benchmark alternate its setups round by round. Each starts with `sources`
 * (the PHP fixtures' r1 and r2 unless told).
 */
export async function withStacks<const Labels extends readonly string[], T>(
  labels: Labels,
  body: (stacks: { readonly [K in keyof Labels]: DeployStack }) => Promise<T>,
  sources?: ReleaseSources,
): Promise<T> {
  const stacks: DeployStack[] = [];
  const closeAll = async () => {
    for (const stack of [...stacks].reverse()) await stack.close();
  };
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void closeAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const label of labels) stacks.push(new DeployStack(label, sources));
    // One stack per label, in order: the tuple type the caller destructures.
    return await body(stacks as unknown as { readonly [K in keyof Labels]: DeployStack });
  } finally {
    await closeAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** One stack: see withStacks. */
export function withStack<T>(label: string, body: (stack: DeployStack) => Promise<T>): Promise<T> {
  return withStacks([label], ([stack]) => body(stack));
}
