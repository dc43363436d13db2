import { spawn } from 'node:child_process';
import { GitfailoverError } from '../errors.js';
import { childEnv } from '../util/child-env.js';

export interface CommandContext {
  action: 'load' | 'start' | 'stop' | 'delete' | 'reload' | 'check';
  node: string;
  commit?: string;
  domain?: string;
  /** The domain's folder (or the live dir for reload). */
  dir: string;
  timeoutMs: number;
}

/**
 * Runs one of the node's `commands` (an argv list; never a shell string). What it needs to know
 * arrives in the environment: GITFAILOVER_ACTION, _NODE, _COMMIT, _DOMAIN, _DIR, on top of the
 * daemon's environment without its secrets (childEnv).
 */
export function runCommand(argv: readonly string[], ctx: CommandContext): Promise<{ stdout: string; stderr: string }> {
  const env = childEnv('command', {
    GITFAILOVER_ACTION: ctx.action,
    GITFAILOVER_NODE: ctx.node,
    GITFAILOVER_COMMIT: ctx.commit ?? '',
    GITFAILOVER_DOMAIN: ctx.domain ?? '',
    GITFAILOVER_DIR: ctx.dir,
  });
  const what = `commands.${ctx.action}${ctx.domain ? ` for domain ${ctx.domain}` : ''} (${argv.join(' ')})`;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the whole group: a hung script's children too
      } catch {
        child.kill('SIGKILL');
      }
    }, ctx.timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-8192)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitfailoverError('E_COMMAND', `${what} could not start: ${e.message}`, { kind: 'stalling', data: { argv, ...ctx } }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new GitfailoverError('E_COMMAND_TIMEOUT', `${what} did not finish within ${ctx.timeoutMs}ms and was killed`, { kind: 'waiting', data: { argv } }));
      } else if (code !== 0) {
        const tail = stderr.trim().split('\n').slice(-3).join(' / ');
        reject(
          new GitfailoverError('E_COMMAND', `${what} failed with ${signal ? `signal ${signal}` : `exit code ${code}`}${tail ? `: ${tail}` : ''}`, {
            kind: 'stalling',
            data: { argv, exitCode: code, stderr },
          }),
        );
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}
