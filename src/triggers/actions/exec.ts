import { GitfailoverError } from '../../errors.js';
import { runProcess } from '../../util/run-process.js';
import { eventEnvironment } from '../events.js';
import type { ExecAction } from '../schema.js';
import type { ActionAttempt, ActionResult } from './types.js';

const KILL_GRACE_MS = 2000;
const OUTPUT_TAIL = 2000;

/**
 * Run the action's argv as it is (no shell) through the one process runner: event data reaches
 * the command only as GITFAILOVER_* environment variables, never as command text, and the
 * daemon's own secrets (inherited GITFAILOVER_* variables such as the notify secret, env:NAME
 * secrets of the node file) never reach it (util/child-env.ts).
 */
export async function runExec(action: ExecAction, attempt: ActionAttempt): ActionResult {
  const label = action.argv.join(' ');
  const r = await runProcess(action.argv, {
    kind: 'exec',
    env: eventEnvironment(attempt.event),
    timeoutMs: attempt.timeoutMs,
    graceMs: KILL_GRACE_MS,
    signal: attempt.signal,
    tailBytes: OUTPUT_TAIL,
  });
  if (r.startError)
    throw new GitfailoverError('E_EXEC', `command ${label} could not start: ${r.startError.message}`, {
      kind: 'stalling',
      cause: r.startError,
    });
  if (r.killedFor) throw new GitfailoverError('E_EXEC', `command ${label} ${r.killedFor}`, { kind: 'waiting' });
  if (r.code === 0) return `${label}: exit 0`;
  const tail = `${r.stdout}${r.stderr}`.slice(-OUTPUT_TAIL).trim().split('\n').slice(-3).join(' | ');
  const how = r.code !== null ? `exited with ${r.code}` : `was killed by ${r.signal}`;
  throw new GitfailoverError('E_EXEC', `command ${label} ${how}${tail ? `: ${tail}` : ''}`, {
    kind: 'waiting',
    data: { code: r.code, signal: r.signal },
  });
}
