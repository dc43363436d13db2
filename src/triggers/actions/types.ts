import type { TriggerEvent } from '../events.js';

/** What one attempt of an action gets; the dispatcher owns retries and the shared abort signal. */
export interface ActionAttempt {
  event: TriggerEvent;
  /** this attempt's limit */
  timeoutMs: number;
  /** aborted when the dispatcher shuts down */
  signal: AbortSignal;
}

/** Resolves with a short description of what was delivered; rejects with the reason it was not. */
export type ActionResult = Promise<string>;
