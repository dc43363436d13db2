import { describe, expect, it } from 'vitest';
import {
  EVENT_NAMES,
  EVENT_VARIABLES,
  eventEnvironment,
  flattenVariables,
  sampleEvent,
  type SyncEvent,
} from '../../../src/triggers/events.js';
import { fillTemplate, renderEmail } from '../../../src/triggers/template.js';

const failed: SyncEvent = {
  event: 'sync',
  node: 'failover-1',
  time: '2024-05-01T10:00:00.000Z',
  success: false,
  mode: 'partial',
  fromCommit: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  toCommit: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
  commits: [
    { id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', subject: 'acme: add user bob', author: 'alice' },
    { id: 'cccccccccccccccccccccccccccccccccccccccc', subject: 'globex: port 2222', author: 'carol' },
  ],
  domains: ['acme', 'globex'],
  error: 'domains/acme/services.yaml: port 99999 is out of range',
  errorFile: 'domains/acme/services.yaml',
  durationMs: 420,
};

describe('flattenVariables', () => {
  it('keeps scalars typed and lists as lists', () => {
    const v = flattenVariables(failed);
    expect(v).toMatchObject({
      success: false,
      durationMs: 420,
      domains: ['acme', 'globex'],
      commitCount: 2,
      shortCommit: 'bbbbbbbb',
    });
    expect(v.commits).toEqual([failed.commits[0]!.id, failed.commits[1]!.id]);
    expect(v.commitSubjects).toEqual(['acme: add user bob', 'globex: port 2222']);
    expect('errorCommit' in v).toBe(false);
  });

  it('offers exactly the documented variables for every sample event', () => {
    for (const name of EVENT_NAMES) {
      const keys = Object.keys(flattenVariables(sampleEvent(name, 'n1')));
      for (const k of keys) expect(EVENT_VARIABLES[name], `${name}.${k}`).toContain(k);
    }
  });
});

describe('eventEnvironment', () => {
  it('names variables GITFAILOVER_SNAKE_CASE and joins lists with newlines', () => {
    const env = eventEnvironment(failed);
    expect(env.GITFAILOVER_SUCCESS).toBe('false');
    expect(env.GITFAILOVER_TO_COMMIT).toBe(failed.toCommit);
    expect(env.GITFAILOVER_DOMAINS).toBe('acme\nglobex');
    expect(env.GITFAILOVER_DURATION_MS).toBe('420');
    expect(JSON.parse(env.GITFAILOVER_EVENT_JSON!)).toEqual(failed);
  });
});

describe('templates', () => {
  it('fills placeholders and drops optional lines that are empty', () => {
    expect(fillTemplate('a {{ x }} b {{y}}\nfile: {{ f? }}\nend', { x: 1, y: ['p', 'q'] })).toBe('a 1 b p, q\nend');
  });

  it('the failed-sync e-mail names the node, the commit, the error and what to do', () => {
    const { subject, body } = renderEmail(failed);
    expect(subject).toContain('failover-1');
    expect(subject).toContain('bbbbbbbb');
    expect(subject).toContain('port 99999 is out of range');
    expect(body).toContain(failed.toCommit);
    expect(body).toContain('acme: add user bob');
    expect(body).toContain('acme, globex');
    expect(body).toMatch(/File at fault: +domains\/acme\/services.yaml/);
    expect(body).not.toContain('Commit at fault');
    expect(body).toContain('gitfailover status');
    expect(body).toContain('gitfailover sync --enable');
    expect(body).not.toMatch(/\{\{/);
  });

  it('keeps an error text with newlines out of the subject header', () => {
    const { subject } = renderEmail({ ...failed, error: 'line one\r\nBcc: victim@example.com' });
    expect(subject).not.toMatch(/[\r\n]/);
  });

  it('renders every event with a template and no leftover placeholder', () => {
    for (const name of EVENT_NAMES) {
      const { subject, body } = renderEmail(sampleEvent(name, 'n1'));
      expect(subject, name).toContain('n1');
      expect(body, name).not.toMatch(/\{\{/);
    }
  });

  it('uses the action templates when given', () => {
    expect(renderEmail(failed, { subject: 'S {{ node }}', body: 'B {{ error }}' })).toEqual({
      subject: 'S failover-1',
      body: 'B domains/acme/services.yaml: port 99999 is out of range',
    });
  });
});
