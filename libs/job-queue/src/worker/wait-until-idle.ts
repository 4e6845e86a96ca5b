/**
 * Resolves true as soon as one of `idle`'s listeners is called (the owner calls them all when it has nothing in
 * flight), or after `timeoutMs` with whether `isIdle()` holds then. The owner checks `isIdle()` before calling this.
 */
export function waitUntilIdle(idle: Set<() => void>, isIdle: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (drained: boolean) => {
      clearTimeout(timer);
      idle.delete(onIdle);
      resolve(drained);
    };
    const onIdle = () => done(true);
    const timer = setTimeout(() => done(isIdle()), timeoutMs);
    idle.add(onIdle);
  });
}
