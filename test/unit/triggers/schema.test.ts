import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { parseTriggers, parseTriggersFile, triggerSchema, triggerWarnings } from '../../../src/triggers/schema.js';

const smtp = { host: '127.0.0.1', port: 2525 };

describe('trigger schema', () => {
  it('fills defaults and normalises actions', () => {
    const t = triggerSchema.parse({
      on: 'sync',
      if: 'success == false',
      email: { to: 'ops@example.com', smtp },
      exec: ['/usr/local/bin/page-oncall', '--sev', '2'],
      backoff: '2s',
    });
    expect(t.email!.to).toEqual(['ops@example.com']);
    expect(t.email!.smtp).toMatchObject({ host: '127.0.0.1', port: 2525, secure: false });
    expect(t.exec).toEqual({ argv: ['/usr/local/bin/page-oncall', '--sev', '2'], timeout: undefined });
    expect(t).toMatchObject({ retries: 3, backoff: 2000, timeout: 30_000 });
  });

  it('accepts exec as {argv, timeout} and a webhook with headers', () => {
    const t = triggerSchema.parse({
      on: 'push.failed',
      exec: { argv: ['notify'], timeout: '5s' },
      webhook: { url: 'https://hooks.example.com/x', secret: 's', headers: { 'X-Team': 'ops' }, timeout: 1000 },
    });
    expect(t.exec).toEqual({ argv: ['notify'], timeout: 5000 });
    expect(t.webhook!.timeout).toBe(1000);
  });

  const problems = (value: unknown) => {
    try {
      parseTriggers(value);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).data.problems as { field: string; text: string }[];
    }
    throw new Error('expected an error');
  };

  it('names the field path of each problem', () => {
    const p = problems([
      { on: 'sync', email: { to: 'ops@example.com', smtp } },
      { on: 'sync.failed', email: { to: 'ops@example.com', smtp } },
      { on: 'sync', if: 'success = false', email: { to: 'ops@example.com', smtp } },
      { on: 'sync', email: { to: 'ops@example.com', smtp: { host: 'x', port: 99999 } } },
      { on: 'sync' },
      { on: 'sync', exec: 'rm -rf /' },
      { on: 'sync', webhook: { url: 'ftp://x' } },
      { on: 'sync', email: { to: 'ops@example.com', smtp }, bogus: 1 },
      { email: { to: 'ops@example.com', smtp } },
    ]);
    const byField = Object.fromEntries(p.map((x) => [x.field, x.text]));
    expect(byField['triggers[1].on']).toMatch(/unknown event "sync.failed": expected one of sync, sync.disabled/);
    expect(byField['triggers[2].if']).toMatch(/at column 9: a single "=" is not an operator/);
    expect(byField['triggers[3].email.smtp.port']).toBeDefined();
    expect(byField['triggers[4]']).toMatch(/at least one action: email, webhook or exec/);
    expect(Object.keys(byField).some((f) => f.startsWith('triggers[5].exec'))).toBe(true);
    expect(byField['triggers[6].webhook.url']).toMatch(/http/);
    expect(byField['triggers[7]']).toMatch(/unknown field "bogus"/);
    expect(byField['triggers[8].on']).toMatch(/is required: the event name/);
    expect(byField['triggers[0]']).toBeUndefined();
  });
});

describe("a domain's triggers.yaml", () => {
  it('loads triggers', () => {
    const list = parseTriggersFile(
      'domains/acme/triggers.yaml',
      'triggers:\n  - on: sync\n    webhook: { url: "http://127.0.0.1:9/hook" }\n',
    );
    expect(list).toHaveLength(1);
    expect(list[0]!.webhook!.url).toBe('http://127.0.0.1:9/hook');
  });

  it('reports file:line:col of the field at fault', () => {
    const text = [
      'triggers:',
      '  - on: sync',
      '    webhook: { url: "http://127.0.0.1:9/hook" }',
      '  - on: sync',
      '    if: success == false and (',
      '    webhook: { url: "http://127.0.0.1:9/hook" }',
      '',
    ].join('\n');
    try {
      parseTriggersFile('domains/acme/triggers.yaml', text);
      throw new Error('expected an error');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.location).toMatchObject({ file: 'domains/acme/triggers.yaml', line: 5, field: 'triggers[1].if' });
      expect(e.message).toMatch(
        /^domains\/acme\/triggers.yaml:5:9: triggers\[1\].if: condition .* at column 23: expected a value/,
      );
    }
  });

  it('reports invalid YAML with its line', () => {
    expect(() => parseTriggersFile('t.yaml', 'triggers:\n  - on: [sync\n')).toThrow(/^t.yaml:\d+:\d+: invalid YAML/);
  });
});

describe('triggerWarnings', () => {
  it('warns about a variable the event does not offer', () => {
    const list = parseTriggers([
      { on: 'sync', if: 'sucess == false', webhook: { url: 'http://127.0.0.1:9/' } },
      { on: 'lag', if: 'behindSeconds > 600', webhook: { url: 'http://127.0.0.1:9/' } },
    ]);
    const w = triggerWarnings(list);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ index: 0, field: '[0].if' });
    expect(w[0]!.message).toMatch(/"sucess" \(column 1\) is not a variable of event sync/);
  });
});

describe('loadDomainTriggers', () => {
  it("collects each domain's triggers.yaml and reports a bad one without dropping the others", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadDomainTriggers } = await import('../../../src/triggers/domains.js');
    const root = mkdtempSync(join(tmpdir(), 'gitfailover-domain-triggers-'));
    try {
      for (const d of ['acme', 'globex', 'initech']) mkdirSync(join(root, 'domains', d), { recursive: true });
      writeFileSync(
        join(root, 'domains/acme/triggers.yaml'),
        'triggers:\n  - on: sync\n    webhook: { url: "http://127.0.0.1:9/" }\n',
      );
      writeFileSync(
        join(root, 'domains/globex/triggers.yaml'),
        'triggers:\n  - on: nope\n    webhook: { url: "http://127.0.0.1:9/" }\n',
      );
      const { triggers, errors } = loadDomainTriggers(root);
      expect(Object.keys(triggers)).toEqual(['acme']);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/domains\/globex\/triggers.yaml:2:9: triggers\[0\].on: unknown event "nope"/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
