import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/daemon/backoff.js';
import { formatLog, type LogEntry } from '../../../src/record/log.js';
import { parseTrailers } from '../../../src/record/message.js';
import { revertMessage } from '../../../src/record/revert.js';

describe('revertMessage', () => {
  const msg = revertMessage({
    commit: 'a'.repeat(40),
    subject: 'acme: add user bob',
    changes: [{ kind: 'user.removed', domain: 'acme', user: 'bob' }],
    actor: 'ops',
    node: 'prod-1',
    operatorMessage: 'bob left the company',
  });

  it('says what it undid, in git revert’s words, with the change list and the operator’s reason', () => {
    expect(msg.split('\n\n')).toEqual([
      'Revert "acme: add user bob"',
      `This reverts commit ${'a'.repeat(40)}.`,
      'bob left the company',
      'Changes:\n- acme: remove user bob',
      'Changed-By: ops\nNode: prod-1\n',
    ]);
  });

  it('ends with trailers that log parses back', () => {
    expect(parseTrailers(msg.split('\n').slice(1).join('\n'))).toEqual({ 'Changed-By': 'ops', Node: 'prod-1' });
  });
});

describe('formatLog', () => {
  const entry: LogEntry = {
    commit: '0123456789abcdef0123456789abcdef01234567',
    time: '2024-05-01T10:00:00+02:00',
    author: 'Ann',
    email: 'ann@example.com',
    committer: 'gitfailover (prod-1)',
    node: 'prod-1',
    subject: 'acme: add user alice',
    changes: [{ kind: 'user.added', domain: 'acme', user: 'alice', text: 'acme: add user alice' }],
    pushed: false,
  };

  it('prints one block per commit: who, where, when, what', () => {
    expect(formatLog([entry])).toBe(
      '0123456789ab  2024-05-01T10:00:00+02:00  Ann @ prod-1  (not pushed yet)\n    acme: add user alice\n      - acme: add user alice\n',
    );
  });

  it('leaves out the node of a commit made outside gitfailover, and says when there is nothing', () => {
    expect(formatLog([{ ...entry, node: null, pushed: true, changes: [] }])).toBe(
      '0123456789ab  2024-05-01T10:00:00+02:00  Ann\n    acme: add user alice\n',
    );
    expect(formatLog([])).toBe('no commits\n');
  });
});

describe('Backoff', () => {
  it('doubles from the first delay up to the cap, and starts over after a success', () => {
    const b = new Backoff(100, 1_000, 0);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(b.attempts).toBe(6);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads delays by the jitter, never beyond it', () => {
    const b = new Backoff(1_000, 1_000, 0.1);
    for (let i = 0; i < 50; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(900);
      expect(d).toBeLessThanOrEqual(1_100);
    }
  });
});
