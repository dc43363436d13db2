/**
 * Exponential backoff for retries that must go on until they succeed (a push of a recorded
 * commit): `first`, 2x, 4x, ... capped at `max`. A little jitter keeps a fleet of nodes that lost
 * the same remote from retrying in lock-step.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly first: number,
    private readonly max: number,
    private readonly jitter = 0.1,
  ) {}

  /** The delay before the next attempt, counting this failure. */
  next(): number {
    const base = Math.min(this.first * 2 ** this.failures, this.max);
    this.failures++;
    const spread = base * this.jitter;
    return Math.max(0, Math.round(base - spread + Math.random() * 2 * spread));
  }

  /** Failures since the last success. */
  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}
