import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BIN, cli, cliOk, startCli, usePairs, writeDomain, writeUser } from '../helpers/fixture.js';

/** `status --watch` as a person (a terminal, through script(1)'s pty) and a log (a pipe) see it. */
const pair = usePairs();

async function waitFor(what: string, check: () => boolean, output: () => string): Promise<void> {
  const until = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );
}

describe('gitfailover status --watch', () => {
  it('without a terminal prints one line per change, and ends cleanly on SIGINT', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await cliOk(['record', '-c', p.primary, '-m', 'first']);
    await cliOk(['sync', '-c', p.standby]);

    const { child, output } = await startCli(
      ['status', '-c', p.standby, '--watch', '--interval', '200ms'],
      /failover-1 \(standby\), applied \w{12}, head \w{12}, behind 0,/,
    );
    onTestFinished(() => void child.kill('SIGKILL'));
    expect(output()).not.toContain('\x1b[');
    expect(output()).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z failover-1 \(standby\), applied (\w{12}), head \1, behind 0, automatic off, last sync ok full -> \1, drift 0\n/,
    );

    writeUser(p.prodLive, 'acme', 'bob');
    await cliOk(['record', '-c', p.primary, '-m', 'second']);
    await waitFor('the line for the new remote head', () => /behind 1,/.test(output()), output);
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(0);

    // a line only when something changed: never the same line twice in a row
    const lines = output()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\S+ /, ''));
    for (let i = 1; i < lines.length; i++) expect(lines[i], output()).not.toBe(lines[i - 1]);
  });

  it('with --json and no terminal prints one JSON object per change', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await cliOk(['record', '-c', p.primary, '-m', 'first']);
    const { child, output } = await startCli(
      ['status', '-c', p.standby, '--watch', '--json', '--interval', '200ms', '--no-fetch'],
      /\}\n/,
    );
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(0);
    const first = JSON.parse(output().split('\n')[0]!) as { node: string; role: string };
    expect(first).toMatchObject({ node: 'failover-1', role: 'standby' });
  });

  it('on a terminal redraws the status in place until Ctrl-C', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await cliOk(['record', '-c', p.primary, '-m', 'first']);
    await cliOk(['sync', '-c', p.standby]);
    // script(1) gives the command a pty; it is its own process group so Ctrl-C reaches all of it
    const cmd = `exec '${process.execPath}' '${BIN}' status -c '${p.standby}' --watch --interval 200ms --no-fetch`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    onTestFinished(() => {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const clears = () => out.split('\x1b[H\x1b[2J').length - 1;
    await waitFor(
      'two refreshes',
      () => clears() >= 2,
      () => out,
    );
    process.kill(-child.pid!, 'SIGINT');
    expect(await exitOf(child)).toBe(0);
    const last = out.split('\x1b[H\x1b[2J').at(-1)!;
    expect(last).toMatch(/^every 0\.2s: gitfailover status --no-fetch {4}\S+ {4}\(Ctrl-C to stop\)\r?\n/);
    expect(last).toMatch(/node: {8}failover-1 \(standby\)/);
    expect(last).toMatch(/behind: {6}0/);
  });

  it('refuses an --interval that is not a duration (exit 2)', async () => {
    const p = await pair();
    const r = await cli(['status', '-c', p.standby, '--watch', '--interval', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'gitfailover status: --interval "5" is not a duration of at least 100ms (e.g. 500ms, 2s, 1m)\n',
    );
  });
});
