import { describe, expect, it } from 'vitest';
import { classOf, exitCodeOf } from '../../../src/errors.js';
import { judgeReadiness, type ReadinessFacts } from '../../../src/observe/readiness.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const standby: ReadinessFacts = {
  node: 'failover-1',
  role: 'standby',
  roleSource: 'role: standby in node.yaml',
  appliedCommit: A,
  headCommit: A,
  behind: 0,
  lastSync: { success: true, time: '2026-01-01T00:00:00Z' },
  drift: [],
  quarantined: null,
  heartbeat: null,
  checks: null,
};

describe('judgeReadiness: one rule for ready, /readyz, status and the page', () => {
  it('a current standby is ready; skipped facts do not make it unready', () => {
    const r = judgeReadiness(standby);
    expect(r.ready).toBe(true);
    expect(r.checks.filter((c) => c.status === 'skip').map((c) => c.name)).toEqual(['heartbeat', 'check']);
    expect(judgeReadiness({ ...standby, drift: undefined, checks: undefined }).ready).toBe(true);
  });

  it('names the cause, not the symptom: a quarantined head also leaves the node behind', () => {
    const r = judgeReadiness({
      ...standby,
      headCommit: B,
      behind: 1,
      quarantined: { commit: B, reason: 'check failed' },
    });
    expect(r.ready).toBe(false);
    expect(r.reason).toMatch(/^quarantine: commit bbbbbbbbbbbb is quarantined: check failed/);
    expect(r.checks.find((c) => c.name === 'applied')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/\(behind: 1\)/),
    });
  });

  it('one meaning of behind: null (diverged) fails and says a full sync is needed', () => {
    expect(judgeReadiness({ ...standby, headCommit: B, behind: null }).reason).toMatch(
      /different lines of history: a full sync is needed/,
    );
  });

  it('a transient last-sync failure leaves the applied commit intact: still ready; a content failure is not', () => {
    expect(
      judgeReadiness({
        ...standby,
        lastSync: { success: false, time: 't', error: 'cannot fetch', errorClass: 'transient' },
      }).ready,
    ).toBe(true);
    expect(
      judgeReadiness({ ...standby, lastSync: { success: false, time: 't', error: 'bad yaml', errorClass: 'content' } })
        .ready,
    ).toBe(false);
  });

  it('drift and a heartbeat commit not applied here fail', () => {
    expect(judgeReadiness({ ...standby, drift: ['domains/acme/users/a.yaml'] }).reason).toMatch(/^drift: 1 file/);
    expect(
      judgeReadiness({ ...standby, heartbeat: { ageSeconds: 90, node: 'prod-1', commit: B, covered: false } }).reason,
    ).toMatch(/^heartbeat: .*announced bbbbbbbbbbbb, which is not applied here/);
  });

  it('takeover asked of a primary fails on the role; a primary judged as itself looks at its pushes', () => {
    const primary: ReadinessFacts = {
      node: 'prod-1',
      role: 'primary',
      roleSource: 'node.yaml',
      appliedCommit: A,
      headCommit: A,
      behind: 0,
    };
    expect(judgeReadiness({ ...primary, takeover: true }).reason).toMatch(/^role: already the primary/);
    expect(judgeReadiness({ ...primary, push: { retryMaxMs: 60_000, unpushed: 0 } }).ready).toBe(true);
    expect(
      judgeReadiness({ ...primary, push: { retryMaxMs: 60_000, unpushed: 1, rejected: 'non-fast-forward' } }).reason,
    ).toMatch(/^push: push rejected/);
    expect(judgeReadiness({ ...primary, repoPrimary: { node: 'failover-1', epoch: 2 } }).reason).toMatch(
      /^role: SPLIT BRAIN/,
    );
    // "gitfailover primary" after a demote: 503, not 200 while it idles.
    expect(judgeReadiness({ ...primary, role: 'standby', runsAs: 'primary' }).reason).toMatch(/^role: demoted/);
  });
});

describe('the error registry', () => {
  it('maps codes to classes and exit codes; unknown codes are content unless they say they wait', () => {
    expect(classOf('E_REMOTE')).toBe('transient');
    expect(classOf('E_LOCKED')).toBe('transient');
    expect(classOf('E_FULL_WHILE_AUTOMATIC')).toBe('usage');
    expect(exitCodeOf(classOf('E_FULL_WHILE_AUTOMATIC'))).toBe(2);
    expect(classOf('E_CHECK_FAILED')).toBe('content');
    expect(classOf('E_SCHEMA')).toBe('content');
    expect(classOf('E_GIT', 'waiting')).toBe('transient');
    expect(exitCodeOf(classOf('E_PROMOTE_NOT_READY'))).toBe(1);
  });
});
