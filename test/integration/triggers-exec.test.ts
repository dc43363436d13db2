import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TriggerDispatcher, type TriggerLogger } from '../../src/triggers/dispatcher.js';
import { sampleEvent, type SyncEvent } from '../../src/triggers/events.js';
import { parseTriggers } from '../../src/triggers/schema.js';

const quiet: TriggerLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** A command that writes its GITFAILOVER_* environment and its argv as JSON to a file. */
const DUMP_ENV = `
const fs = require('node:fs');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('GITFAILOVER_')));
fs.writeFileSync(process.argv[1], JSON.stringify({ env, argv: process.argv.slice(2) }));
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gitfailover-exec-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('exec action', () => {
  it('receives the event variables in its environment', async () => {
    const out = join(dir, 'env.json');
    const event = {
      ...(sampleEvent('sync', 'failover-1') as SyncEvent),
      success: false,
      error: 'disk full',
      domains: ['acme', 'globex'],
    };
    const d = new TriggerDispatcher(
      parseTriggers([{ on: 'sync', exec: [process.execPath, '-e', DUMP_ENV, out, 'fixed-arg'] }]),
      {
        logger: quiet,
      },
    );
    d.fire(event);
    expect(await d.drain(10_000)).toBe(true);
    const { env, argv } = JSON.parse(readFileSync(out, 'utf8'));
    expect(argv).toEqual(['fixed-arg']);
    expect(env).toMatchObject({
      GITFAILOVER_EVENT: 'sync',
      GITFAILOVER_NODE: 'failover-1',
      GITFAILOVER_SUCCESS: 'false',
      GITFAILOVER_ERROR: 'disk full',
      GITFAILOVER_DOMAINS: 'acme\nglobex',
      GITFAILOVER_TO_COMMIT: event.toCommit,
    });
    expect(JSON.parse(env.GITFAILOVER_EVENT_JSON)).toEqual(event);
    expect(d.deliveries()[0]!.actions[0]).toMatchObject({ action: 'exec', ok: true });
  });

  it('does not hand the daemon’s own GITFAILOVER_* variables (secrets) to the command', async () => {
    const out = join(dir, 'env.json');
    process.env.GITFAILOVER_NOTIFY_SECRET = 'do-not-leak';
    try {
      const d = new TriggerDispatcher(parseTriggers([{ on: 'drift', exec: [process.execPath, '-e', DUMP_ENV, out] }]), {
        logger: quiet,
      });
      d.fire(sampleEvent('drift', 'failover-1'));
      await d.drain(10_000);
    } finally {
      delete process.env.GITFAILOVER_NOTIFY_SECRET;
    }
    expect(JSON.parse(readFileSync(out, 'utf8')).env.GITFAILOVER_NOTIFY_SECRET).toBeUndefined();
  });

  it('runs nothing but the given argv when the event holds shell metacharacters', async () => {
    const marker = `/tmp/pwned-${process.pid}-${Date.now()}`;
    const victim = join(dir, 'x');
    const out = join(dir, 'env.json');
    const error = `$(touch ${marker}) \`touch ${marker}\`"; rm -rf ${victim}; touch ${marker} #' && touch ${marker}`;
    const event = {
      ...(sampleEvent('sync', 'failover-1') as SyncEvent),
      success: false,
      error,
      domains: [`$(touch ${marker})`],
    };
    const { mkdirSync } = await import('node:fs');
    mkdirSync(victim);
    // a shell consumer that quotes its variables properly, and a plain argv consumer
    const d = new TriggerDispatcher(
      parseTriggers([
        { on: 'sync', exec: ['/bin/sh', '-c', 'printf "%s" "$GITFAILOVER_ERROR" > "$0"', join(dir, 'sh.txt')] },
        { on: 'sync', exec: [process.execPath, '-e', DUMP_ENV, out] },
      ]),
      { logger: quiet },
    );
    d.fire(event);
    expect(await d.drain(10_000)).toBe(true);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(victim)).toBe(true);
    expect(readFileSync(join(dir, 'sh.txt'), 'utf8')).toBe(error);
    expect(JSON.parse(readFileSync(out, 'utf8')).env.GITFAILOVER_ERROR).toBe(error);
    expect(readdirSync(dir).sort()).toEqual(['env.json', 'sh.txt', 'x']);
  });

  it('a non-zero exit is a failure with the command’s last output; a timeout kills the whole process group', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const d = new TriggerDispatcher(
      parseTriggers([
        {
          name: 'fails',
          on: 'sync',
          exec: [process.execPath, '-e', 'console.error("cannot reach pager"); process.exit(3)'],
          retries: 0,
        },
        {
          name: 'hangs',
          on: 'sync',
          // starts a grandchild that would outlive a plain kill of its parent; a shell (not a
          // second Node start) so that a loaded machine still writes the pid file within the timeout
          exec: {
            argv: ['/bin/sh', '-c', 'sleep 600 & echo $! > "$0"; wait', pidFile],
            timeout: '2s',
          },
          retries: 0,
        },
      ]),
      { logger: quiet },
    );
    d.fire(sampleEvent('sync', 'failover-1'));
    expect(await d.drain(10_000)).toBe(true);
    const [fails, hangs] = d.deliveries();
    expect(fails!.lastFailure!.reason).toMatch(/exited with 3: cannot reach pager/);
    expect(hangs!.lastFailure!.reason).toMatch(/timed out after 2000ms/);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(grandchild).toBeGreaterThan(0);
    // killed with its group; polled (bounded) until init has reaped it
    const t0 = Date.now();
    while (alive(grandchild) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(alive(grandchild)).toBe(false);
  });

  it('a command that does not exist is reported, not thrown', async () => {
    const d = new TriggerDispatcher(
      parseTriggers([{ on: 'sync', exec: ['/nonexistent/gitfailover-hook'], retries: 0 }]),
      { logger: quiet },
    );
    expect(() => d.fire(sampleEvent('sync', 'n'))).not.toThrow();
    await d.drain(5_000);
    expect(d.deliveries()[0]!.lastFailure!.reason).toMatch(/could not start: .*ENOENT/);
  });

  it('exec from a domain triggers.yaml is skipped unless the node allows it', async () => {
    const out = join(dir, 'env.json');
    const domainTriggers = { acme: parseTriggers([{ on: 'sync', exec: [process.execPath, '-e', DUMP_ENV, out] }]) };
    const event = sampleEvent('sync', 'n', { domains: ['acme'] });
    const refused = new TriggerDispatcher([], { logger: quiet, domainTriggers });
    refused.fire(event);
    await refused.drain(5_000);
    expect(existsSync(out)).toBe(false);

    const allowed = new TriggerDispatcher([], { logger: quiet, domainTriggers, allowDomainExec: true });
    allowed.fire(event);
    await allowed.drain(5_000);
    expect(existsSync(out)).toBe(true);
  });
});

/** Running (a zombie waiting for a parent that does not reap it counts as dead). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
