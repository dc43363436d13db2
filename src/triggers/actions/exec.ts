import { spawn } from 'node:child_process';
import { GitfailoverError } from '../../errors.js';
import { childEnv } from '../../util/child-env.js';
import { eventEnvironment } from '../events.js';
import type { ExecAction } from '../schema.js';
import type { ActionAttempt, ActionResult } from './types.js';

const KILL_GRACE_MS = 2000;
const OUTPUT_TAIL = 2000;

/**
 * Run the action's argv as it is (shell: false): event data reaches the command only as
 * GITFAILOVER_* environment variables, never as command text. Inherited GITFAILOVER_* variables
 * are removed first, so the command sees the event's values and none of the daemon's own
 * (such as a notify secret).
 */
export function runExec(action: ExecAction, attempt: ActionAttempt): ActionResult {
  const [cmd, ...args] = action.argv;
  const env = childEnv('exec', eventEnvironment(attempt.event));
  const label = action.argv.join(' ');

  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, {
      shell: false,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a timeout kills what it started too
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);

    let killedFor: string | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (killedFor || child.exitCode !== null) return;
      killedFor = why;
      signalGroup(child.pid, 'SIGTERM');
      graceTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      graceTimer.unref();
    };
    const timer = setTimeout(() => kill(`timed out after ${attempt.timeoutMs}ms`), attempt.timeoutMs);
    const onAbort = () => kill('cancelled at shutdown');
    attempt.signal.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      attempt.signal.removeEventListener('abort', onAbort);
    };

    child.on('error', (err) => {
      done();
      reject(new GitfailoverError('E_EXEC', `command ${label} could not start: ${err.message}`, { kind: 'stalling', cause: err }));
    });
    child.on('close', (code, signal) => {
      done();
      if (graceTimer) clearTimeout(graceTimer);
      const tail = output.trim().split('\n').slice(-3).join(' | ');
      if (killedFor) {
        reject(new GitfailoverError('E_EXEC', `command ${label} ${killedFor}`, { kind: 'waiting' }));
      } else if (code === 0) {
        resolve(`${label}: exit 0`);
      } else {
        const how = code !== null ? `exited with ${code}` : `was killed by ${signal}`;
        reject(new GitfailoverError('E_EXEC', `command ${label} ${how}${tail ? `: ${tail}` : ''}`, { kind: 'waiting', data: { code, signal } }));
      }
    });
  });
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
