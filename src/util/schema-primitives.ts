// The zod primitives the node file and triggers.yaml share: a leaf module, so neither schema imports the other's copy.
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';

/** The longest delay setTimeout keeps: a longer one fires after 1 ms (Node warns and clamps). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration (`500ms`, `30s`, `5m`, `1h`, or a number of milliseconds) within [min, max]; `zero`
 * names what 0 means where 0 is allowed (e.g. "off"). Every duration of the node file and of a
 * triggers.yaml goes through this, so nothing over 2^31-1 ms reaches a timer and the error says
 * the allowed range.
 */
export function durationBetween(min: number, max: number, zero?: string) {
  if (max > MAX_TIMER_MS) throw new Error(`durationBetween: ${max} is over the timer limit`);
  const range = `between ${formatDuration(min)} and ${formatDuration(max)}${zero ? ` (or 0 for ${zero})` : ''}`;
  return z
    .union([
      z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, `a duration such as 500ms, 30s, 5m or 1h, ${range}`),
      z.number().int().nonnegative().describe('milliseconds'),
    ])
    .transform((v) => (typeof v === 'number' ? v : parseDuration(v)!))
    .refine((ms) => (ms === 0 && zero !== undefined) || (ms >= min && ms <= max), { message: `must be ${range}` })
    .describe(`a duration: 500ms, 30s, 5m, 1h (or a number of milliseconds), ${range}`);
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A command as an argv list: a child is started without a shell, so nothing is interpolated. */
export const argv = z.array(z.string().min(1)).min(1).describe('a command as an argv list (never a shell string)');
