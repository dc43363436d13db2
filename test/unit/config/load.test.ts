import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { nodeFilePath, parseNodeFile } from '../../../src/config/load.js';
import { parseDuration, formatDuration } from '../../../src/util/duration.js';
import { nodeFileJsonSchema } from '../../../src/config/write-schema.js';

const minimal = `node: failover-1
role: standby
repo:
  remote: /srv/git/mft.git
  stateDir: state
live:
  dir: /opt/mft/etc
`;

function refusal(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseNodeFile('/etc/gitfailover.yaml', text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected the node file to be refused');
}

describe('node file', () => {
  it('fills the defaults, resolves paths against the node file, and parses durations', () => {
    const cfg = parseNodeFile('/etc/gf/gitfailover.yaml', `${minimal}sync:\n  interval: 10s\n  timeout: 1500ms\n`, {});
    expect(cfg.repo.branch).toBe('main');
    expect(cfg.repo.stateDir).toBe('/etc/gf/state');
    expect(cfg.live.domains).toBe('domains/*');
    expect(cfg.sync).toMatchObject({
      interval: 10_000,
      timeout: 1500,
      automatic: false,
      startAfterSync: false,
      disableOnFailure: true,
    });
    expect(cfg.record.debounce).toBe(500);
    expect(cfg.notify.listen).toBe('127.0.0.1:7420');
    expect(cfg.triggers).toEqual([]);
  });

  it('names the file, line, column and field of a schema error', () => {
    const e = refusal(`${minimal}sync:\n  interval: soon\n`);
    expect(e.message).toContain('/etc/gitfailover.yaml:9:13: sync.interval');
    expect(e.location).toMatchObject({ file: '/etc/gitfailover.yaml', line: 9, field: 'sync.interval' });
  });

  it('names an unknown field', () => {
    const e = refusal(`${minimal}sink:\n  automatic: true\n`);
    expect(e.message).toMatch(/:8:\d+: .*unknown field "sink"/);
  });

  it('names a missing required field', () => {
    const e = refusal('node: a\nrole: standby\nlive:\n  dir: /x\n');
    expect(e.message).toMatch(/repo: is required|repo:.*expected object/);
  });

  it('reports bad YAML with its line', () => {
    const e = refusal('node: a\nrole: [standby\n');
    expect(e.message).toMatch(/^\/etc\/gitfailover\.yaml:\d+:\d+: invalid YAML/);
  });

  it('resolves env: secrets and refuses a missing variable with file, line and field', () => {
    const text = `${minimal}notify:\n  secret: env:GF_TEST_SECRET\n`;
    expect(parseNodeFile('/etc/gitfailover.yaml', text, { GF_TEST_SECRET: 's3cret' }).notify.secret).toBe('s3cret');
    const e = refusal(text, {});
    expect(e.message).toBe(
      "/etc/gitfailover.yaml:9:11: notify.secret: environment variable GF_TEST_SECRET is not set (export it, or put it in the service's environment file)",
    );
  });

  it('resolves the secrets of trigger actions', () => {
    const text =
      minimal +
      'triggers:\n  - on: sync\n    email: { to: ops@example.com, smtp: { host: 127.0.0.1, port: 25, user: u, pass: env:GF_SMTP } }\n';
    const cfg = parseNodeFile('/etc/gitfailover.yaml', text, { GF_SMTP: 'pw' });
    expect(cfg.triggers[0]!.email!.smtp.pass).toBe('pw');
    expect(refusal(text, {}).message).toContain('triggers[0].email.smtp.pass');
  });

  it('refuses a trigger whose condition does not parse, naming its line', () => {
    const e = refusal(`${minimal}triggers:\n  - on: sync\n    if: success ==\n    exec: [true]\n`);
    expect(e.message).toMatch(/:10:\d+: triggers\[0\]\.if/);
  });

  it('finds the node file: -c, then $GITFAILOVER_CONFIG, then ./gitfailover.yaml', () => {
    expect(nodeFilePath({ file: 'a.yaml', env: { GITFAILOVER_CONFIG: '/b.yaml' }, cwd: '/w' })).toBe('/w/a.yaml');
    expect(nodeFilePath({ env: { GITFAILOVER_CONFIG: '/b.yaml' }, cwd: '/w' })).toBe('/b.yaml');
    expect(nodeFilePath({ env: {}, cwd: '/w' })).toBe('/w/gitfailover.yaml');
  });
});

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(formatDuration(1500)).toBe('1.5s');
  });
});

describe('published JSON Schema', () => {
  it('describes the node file for editors', () => {
    const schema = nodeFileJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(schema.required).toEqual(expect.arrayContaining(['node', 'role', 'repo', 'live']));
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['sync', 'substitution', 'commands', 'notify', 'triggers']),
    );
  });
});
