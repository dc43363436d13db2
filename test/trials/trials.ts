import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixture.js';

/**
 * Shared by the fault trials. `npm test` runs a short version of each family; `npm run trials`
 * sets GF_TRIALS_FULL=1 for the real counts. Each family prints what it tried and how many held,
 * and appends the figures to $GF_TRIALS_OUT (JSON lines) when set.
 */
export const FULL = process.env.GF_TRIALS_FULL === '1';
export const DIST = join(ROOT, 'dist');
export const WORKERS = join(ROOT, 'test', 'trials', 'workers');

export function trials(short: number, full: number): number {
  if (process.env.GF_TRIALS_N) return Number(process.env.GF_TRIALS_N);
  return FULL ? full : short;
}

export interface Figures {
  family: string;
  tried: number;
  held: number;
  detail: string;
}

export function report(f: Figures): void {
  const line = `[trials] ${f.family}: tried ${f.tried}, held ${f.held}${f.detail ? ` (${f.detail})` : ''}`;
  console.log(line);
  if (process.env.GF_TRIALS_OUT)
    appendFileSync(
      process.env.GF_TRIALS_OUT,
      `${JSON.stringify({ ...f, full: FULL, time: new Date().toISOString() })}\n`,
    );
}

/** Start a worker script; resolves once it printed `ready` (its modules are loaded). */
export function startWorker(
  script: string,
  args: string[],
  opts: { detached?: boolean } = {},
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [join(WORKERS, script), DIST, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: opts.detached,
  });
  child.stdin!.on('error', () => {});
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve({ child, out: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code, signal) =>
      reject(new Error(`${script} exited (${code ?? signal}) before ready: ${out}`)),
    );
  });
}

/** SIGKILL the worker (or its whole process group, git children included) and wait for it to be gone. */
export function kill(child: ChildProcess, group = false): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      if (group && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      resolve();
    }
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
