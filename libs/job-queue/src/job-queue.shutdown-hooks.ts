import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { messages } from './job-queue.messages';

/** The signals a process manager or a terminal sends to stop an app. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** Listeners of every JobQueueModule of the process, so that one app's listener never counts as another's handler. */
const ours = new Set<(...args: unknown[]) => void>();

/**
 * Warns when a stop signal arrives at an app that did not call `enableShutdownHooks()` and has no listener of its
 * own: Nest then never runs `beforeApplicationShutdown`, so running jobs are neither drained nor released.
 *
 * It listens to the signals from start to shutdown, and a listener changes what a signal does (the process no
 * longer ends by default). So when its listener is the only one, it warns, removes itself and sends the signal
 * again: the process ends as it would have without the library. When any other listener exists (Nest's shutdown
 * hooks, or the app's own handler), it does nothing.
 */
@Injectable()
export class JobQueueShutdownHooksCheck implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private readonly listeners = new Map<NodeJS.Signals, (...args: unknown[]) => void>();

  onApplicationBootstrap(): void {
    for (const signal of STOP_SIGNALS) {
      const listener = () => this.onSignal(signal);
      this.listeners.set(signal, listener);
      ours.add(listener);
      process.on(signal, listener);
    }
  }

  beforeApplicationShutdown(): void {
    this.removeListeners();
  }

  private onSignal(signal: NodeJS.Signals): void {
    const others = process.listeners(signal).filter((listener) => !ours.has(listener as () => void));
    if (others.length > 0) return;
    this.logger.warn(messages.signalWithoutShutdownHooks(signal));
    this.removeListeners();
    // Another app's queue module may still listen; only when none does is the signal's default action restored.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  }

  private removeListeners(): void {
    for (const [signal, listener] of this.listeners) {
      process.removeListener(signal, listener);
      ours.delete(listener);
    }
    this.listeners.clear();
  }
}
