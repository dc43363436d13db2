import { GitfailoverError } from '../errors.js';
import { runProcess } from '../util/run-process.js';

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
 * Runs one of the node's `commands` (an argv list; never a shell string) through the one process
 * runner. What it needs to know arrives in the environment: GITFAILOVER_ACTION, _NODE, _COMMIT,
 * _DOMAIN, _DIR, on top of the daemon's environment without its secrets (util/child-env.ts).
 */
export async function runCommand(
  argv: readonly string[],
  ctx: CommandContext,
): Promise<{ stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    GITFAILOVER_ACTION: ctx.action,
    GITFAILOVER_NODE: ctx.node,
    GITFAILOVER_COMMIT: ctx.commit ?? '',
    GITFAILOVER_DOMAIN: ctx.domain ?? '',
    GITFAILOVER_DIR: ctx.dir,
  };
  const what = `commands.${ctx.action}${ctx.domain ? ` for domain ${ctx.domain}` : ''} (${argv.join(' ')})`;
  const r = await runProcess(argv, { kind: 'command', env, timeoutMs: ctx.timeoutMs });
  if (r.startError)
    throw new GitfailoverError('E_COMMAND', `${what} could not start: ${r.startError.message}`, {
      kind: 'stalling',
      data: { argv, ...ctx },
    });
  if (r.killedFor)
    throw new GitfailoverError('E_COMMAND_TIMEOUT', `${what} did not finish within ${ctx.timeoutMs}ms and was killed`, {
      kind: 'waiting',
      data: { argv },
    });
  if (r.code !== 0) {
    const tail = r.stderr.trim().split('\n').slice(-3).join(' / ');
    throw new GitfailoverError(
      'E_COMMAND',
      `${what} failed with ${r.signal ? `signal ${r.signal}` : `exit code ${r.code}`}${tail ? `: ${tail}` : ''}`,
      {
        kind: 'stalling',
        data: { argv, exitCode: r.code, stderr: r.stderr },
      },
    );
  }
  return { stdout: r.stdout, stderr: r.stderr };
}
