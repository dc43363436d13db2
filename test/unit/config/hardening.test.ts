import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeFile, plaintextSecretWarning } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { removeDir, tempDir } from '../../helpers/fixture.js';

/** Issue 18: bounds on every duration, confinement of live.domains/exclude, separate state and live dirs, plain-text secrets. */
const dir = tempDir('gf-nodefile-');
afterAll(() => removeDir(dir));

const node = (extra = '', live = join(dir, 'live'), state = join(dir, 'state')) =>
  `node: failover-1\nrole: standby\nrepo:\n  remote: /srv/git/mft.git\n  stateDir: ${state}\nlive:\n  dir: ${live}\n${extra}`;

function refusal(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseNodeFile(join(dir, 'gitfailover.yaml'), text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected the node file to be refused');
}

describe('node file bounds', () => {
  it.each([
    ['sync:\n  interval: 999999h\n', 'sync.interval', 'between 100ms and 24h'],
    ['sync:\n  interval: 0ms\n', 'sync.interval', 'between 100ms and 24h'],
    ['commands:\n  timeout: 1000h\n', 'commands.timeout', 'between 100ms and 24h'],
    ['commands:\n  timeout: 0ms\n', 'commands.timeout', 'between 100ms and 24h'],
    ['sync:\n  timeout: 2d\n', 'sync.timeout', 'between 100ms and 1h'],
    ['record:\n  retryMax: 30d\n', 'record.retryMax', 'between 10ms and 24h'],
    ['notify:\n  heartbeat: 50ms\n', 'notify.heartbeat', 'or 0 for no heartbeat'],
    ['sync:\n  maxLag: 2147483648\n', 'sync.maxLag', 'between 100ms and 168h'],
    [
      'triggers:\n  - on: sync\n    exec: [true]\n    backoffMax: 40d\n',
      'triggers[0].backoffMax',
      'between 0ms and 24h',
    ],
  ])('refuses %j naming the field and the allowed range', (extra, field, range) => {
    const e = refusal(node(extra));
    expect(e.message).toContain(field);
    expect(e.message).toContain(range);
  });

  it('accepts 0 where it means something (record.debounce, notify.heartbeat off)', () => {
    const cfg = parseNodeFile(
      join(dir, 'gitfailover.yaml'),
      node('record:\n  debounce: 0ms\nnotify:\n  heartbeat: 0ms\n'),
      {},
    );
    expect(cfg.record.debounce).toBe(0);
    expect(cfg.notify.heartbeat).toBe(0);
  });
});

describe('node file confinement', () => {
  it.each([
    ['live:\n  dir: LIVE\n  domains: "../*"\n', 'live.domains'],
    ['live:\n  dir: LIVE\n  exclude: ["../sub/**"]\n', 'live.exclude[0]'],
    ['live:\n  dir: LIVE\n  exclude: ["/etc/**"]\n', 'live.exclude[0]'],
  ])('refuses %j', (extra, field) => {
    const text = `node: failover-1\nrole: standby\nrepo:\n  remote: /srv/git/mft.git\n  stateDir: ${join(dir, 'state')}\n${extra.replace('LIVE', join(dir, 'live'))}`;
    expect(refusal(text).message).toContain(field);
  });

  it('refuses a state dir inside the live dir, and a live dir inside the state dir', () => {
    expect(refusal(node('', join(dir, 'live'), join(dir, 'live', 'gfstate'))).message).toMatch(
      /repo\.stateDir: .*overlap \(the state dir is inside the live dir\)/,
    );
    expect(refusal(node('', join(dir, 'state', 'live'), join(dir, 'state'))).message).toMatch(
      /overlap \(the live dir is inside the state dir\)/,
    );
  });

  it('refuses a state dir below a file and a live dir that is a file, naming the field', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a-file'), 'x');
    expect(refusal(node('', join(dir, 'live'), join(dir, 'a-file', 'state'))).message).toMatch(
      /repo\.stateDir: .*a-file \(on the way to .*\) is a file, not a folder/,
    );
    expect(refusal(node('', join(dir, 'a-file'))).message).toMatch(/live\.dir: .*a-file is a file, not a folder/);
  });
});

describe('plain-text secrets in the node file', () => {
  it('are named in one warning that says how to use env: or file:', () => {
    const cfg = parseNodeFile(join(dir, 'gitfailover.yaml'), node('notify:\n  secret: hunter2-hunter2\n'), {});
    expect(plaintextSecretWarning(cfg)).toMatch(/notify\.secret is written in plain text .*"env:NAME".*"file:PATH"/);
    const ok = parseNodeFile(join(dir, 'gitfailover.yaml'), node('notify:\n  secret: env:S\n'), { S: 'x' });
    expect(plaintextSecretWarning(ok)).toBeUndefined();
  });
});

describe('record backoff', () => {
  it('refuses record.retryMax shorter than record.retry', () => {
    const e = refusal(node('record:\n  retry: 10s\n  retryMax: 1s\n'));
    expect(e.message).toMatch(/record\.retryMax: must not be shorter than record\.retry/);
  });
});

describe('overlap check on paths that do not exist yet', () => {
  it('does not take two missing top-level folders for one', () => {
    const cfg = parseNodeFile(join(dir, 'gitfailover.yaml'), node('', '/gf-missing-live-x', '/gf-missing-state-y'), {});
    expect(cfg.live.dir).toBe('/gf-missing-live-x');
  });
});
