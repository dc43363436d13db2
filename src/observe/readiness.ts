/**
 * The one readiness rule: facts about a node in, a verdict with every check out. Pure (no git, no
 * files): `gitfailover ready`, `promote`, `status`, /readyz of both daemons, the status page and
 * the `gitfailover_ready` metric all gather their facts and ask this function, so they cannot
 * disagree on what "ready" means.
 *
 * The question depends on the role the node acts in now:
 *  - standby: could it take over now? (at the remote head, last sync good, no drift, nothing
 *    quarantined, checks pass, nothing the primary announced is missing)
 *  - primary: is it doing the primary's job? (the repo names it, its pushes go through)
 * `takeover` asks the standby question of a node that is already the primary (`ready`, `promote`): it fails.
 */

export interface ReadyCheck {
  name: string;
  /** `skip`: not known or not configured here; it does not make the node unready. */
  status: 'ok' | 'fail' | 'skip';
  detail: string;
}

export interface Readiness {
  node: string;
  ready: boolean;
  /** The first failing check's detail, or what "ready" means here: one line for /readyz and the page. */
  reason: string;
  checks: ReadyCheck[];
}

export interface ReadinessFacts {
  node: string;
  role: 'primary' | 'standby';
  /** Where the role comes from (node file or stateDir/role.json), for the `role` line. */
  roleSource: string;
  /** The daemon asking, when it can serve only one role (`gitfailover primary` after a demote serves none). */
  runsAs?: 'primary';
  /** Ask "could it take over?" even of a primary (then the role check fails). */
  takeover?: boolean;
  /** The remote as asked now; undefined: not asked (the last fetched head is used). */
  remote?: { ok: true; detail: string } | { ok: false; detail: string };
  appliedCommit?: string | null;
  headCommit?: string | null;
  /** behindOf(): null when the history diverged. */
  behind: number | null;
  lastSync?: { success: boolean; time: string; error?: string; errorClass?: string } | null;
  /** Files differing from the applied commit; undefined: not looked at. */
  drift?: readonly string[];
  quarantined?: { commit: string; reason: string } | null;
  pinned?: { commit: string } | null;
  interruptedApply?: string | null;
  heartbeat?: { ageSeconds: number; node?: string; commit?: string; covered: boolean } | null;
  /** commands.check per domain; undefined: not run here; null: commands.check is not set. */
  checks?: { domain: string; ok: boolean; error?: string }[] | null;
  /** Primary: the node the repo names, when another one (a split brain). */
  repoPrimary?: { node: string; epoch: number } | null;
  /** Service addresses loaded unsubstituted (substitution.ips does not map them, substitution.keep does not list them), as "domain ip|port". */
  unmapped?: readonly string[];
  /** Primary: the admission rules refused the last record ("recording blocked: <file>: <why>"). */
  recordBlocked?: string | null;
  /** Primary: the push state of a running daemon; undefined: not known here. */
  push?: { rejected?: string; failingForMs?: number; retryMaxMs: number; unpushed: number; error?: string };
}

const short = (c: string | null | undefined) => (c ? c.slice(0, 12) : '(none)');

const CAUSES = ['role', 'quarantine', 'last sync', 'journal', 'substitution', 'record', 'push', 'remote'];

export function judgeReadiness(f: ReadinessFacts): Readiness {
  const checks: ReadyCheck[] = [];
  const add = (name: string, status: ReadyCheck['status'], detail: string) => checks.push({ name, status, detail });
  const asStandby = f.role === 'standby' || f.takeover === true;

  if (f.runsAs === 'primary' && f.role !== 'primary') {
    add(
      'role',
      'fail',
      `demoted (${f.roleSource}): this "gitfailover primary" process neither records nor syncs; stop it and run "gitfailover standby"`,
    );
    return { node: f.node, ready: false, reason: `role: ${checks[0]!.detail}`, checks };
  }
  if (f.takeover)
    add(
      'role',
      f.role === 'standby' ? 'ok' : 'fail',
      f.role === 'standby' ? `standby (${f.roleSource})` : `already the primary (${f.roleSource})`,
    );
  else if (f.role === 'primary' && f.repoPrimary && f.repoPrimary.node !== f.node) {
    add(
      'role',
      'fail',
      `SPLIT BRAIN: acts as primary (${f.roleSource}) but the repo names ${f.repoPrimary.node} (epoch ${f.repoPrimary.epoch}); it does not record. Run "gitfailover demote" here`,
    );
  } else add('role', 'ok', `${f.role} (${f.roleSource})`);

  if (f.remote) add('remote', f.remote.ok ? 'ok' : 'fail', f.remote.detail);

  if (asStandby) {
    const current = f.behind === 0 && !!f.appliedCommit;
    add(
      'applied',
      current ? 'ok' : 'fail',
      current
        ? `applied ${short(f.appliedCommit)} = remote head`
        : f.behind === null
          ? `applied ${short(f.appliedCommit)} and the remote head ${short(f.headCommit)} are on different lines of history: a full sync is needed`
          : `applied ${short(f.appliedCommit)}, remote head ${short(f.headCommit)} (behind: ${f.behind})${f.pinned ? ` (pinned by "gitfailover sync --to"; "gitfailover sync --enable" un-pins)` : ''}`,
    );
    const last = f.lastSync;
    // A transient failure (the remote unreachable) leaves the applied commit whole: exactly when a failover may be needed.
    const transient = !!last && !last.success && last.errorClass === 'transient';
    add(
      'last sync',
      last?.success || transient ? 'ok' : 'fail',
      last
        ? `${last.success ? 'succeeded' : transient ? 'failed transiently (the applied commit is intact)' : 'FAILED'} at ${last.time}${last.error && !last.success ? `: ${last.error}` : ''}`
        : 'no sync yet: run "gitfailover sync"',
    );
    if (f.drift === undefined) add('drift', 'skip', 'not looked at here ("gitfailover ready" does)');
    else {
      const d = f.drift;
      add(
        'drift',
        d.length === 0 ? 'ok' : 'fail',
        d.length === 0
          ? 'none'
          : `${d.length} file(s) differ from the applied commit: ${d.slice(0, 3).join(', ')}${d.length > 3 ? ', ...' : ''} ("gitfailover sync --full" puts them back)`,
      );
    }
    if (f.unmapped !== undefined) {
      const u = f.unmapped;
      add(
        'substitution',
        u.length === 0 ? 'ok' : 'fail',
        u.length === 0
          ? 'every service address is substituted or kept'
          : `the failover would listen on production's address: ${u.slice(0, 3).join(', ')}${u.length > 3 ? ', ...' : ''} (map it under substitution.ips, or list it under substitution.keep)`,
      );
    }
    add(
      'quarantine',
      f.quarantined ? 'fail' : 'ok',
      f.quarantined ? `commit ${short(f.quarantined.commit)} is quarantined: ${f.quarantined.reason}` : 'none',
    );
    if (f.interruptedApply)
      add('journal', 'fail', `an apply to ${short(f.interruptedApply)} was interrupted; the next sync finishes it`);
    const hb = f.heartbeat;
    if (!hb)
      add(
        'heartbeat',
        'skip',
        'no primary heartbeat recorded (the standby daemon records them when the primary notifies it)',
      );
    else {
      const from = `from ${hb.node ?? 'the primary'} ${Math.round(hb.ageSeconds)}s ago`;
      // A late heartbeat is what a failover looks like: the check is that nothing the primary last announced is missing here.
      add(
        'heartbeat',
        hb.covered ? 'ok' : 'fail',
        hb.covered
          ? `last ${from}${hb.commit ? `, announced ${short(hb.commit)} (applied here)` : ''}`
          : `last ${from} announced ${short(hb.commit)}, which is not applied here`,
      );
    }
    if (f.checks === null) add('check', 'skip', 'commands.check is not set');
    else if (f.checks === undefined)
      add('check', 'skip', 'commands.check is not run here ("gitfailover ready" runs it)');
    else if (f.checks.length === 0) add('check', 'skip', 'no domains in the live dir');
    else
      for (const c of f.checks)
        add(`check ${c.domain}`, c.ok ? 'ok' : 'fail', c.ok ? 'commands.check passed' : (c.error ?? 'failed'));
  } else {
    add(
      'behind',
      f.behind === null ? 'fail' : 'ok',
      f.behind === null
        ? `the local branch ${short(f.appliedCommit)} and the remote head ${short(f.headCommit)} diverged`
        : f.behind > 0
          ? `${f.behind} commit(s) of the remote not taken in yet`
          : 'has every commit of the remote',
    );
    if (f.recordBlocked) add('record', 'fail', f.recordBlocked);
    const p = f.push;
    if (!p) add('push', 'skip', 'no running primary daemon here');
    else if (p.rejected) add('push', 'fail', `push rejected: ${p.rejected}`);
    else if ((p.failingForMs ?? 0) > p.retryMaxMs)
      add(
        'push',
        'fail',
        `${p.unpushed} commit(s) unpushed for ${Math.round((p.failingForMs ?? 0) / 1000)}s (over record.retryMax): ${p.error ?? ''}`,
      );
    else
      add(
        'push',
        'ok',
        p.unpushed > 0 ? `${p.unpushed} commit(s) waiting for the next push` : 'everything recorded is pushed',
      );
  }

  // The one-line reason names the cause, not its symptom: a quarantined head also leaves the node behind.
  const failing = checks.filter((c) => c.status === 'fail');
  const failed = CAUSES.map((n) => failing.find((c) => c.name === n)).find((c) => c !== undefined) ?? failing[0];
  const ready = failed === undefined;
  const reason = failed
    ? `${failed.name}: ${failed.detail}`
    : asStandby
      ? 'at the remote head, last sync good: could take over'
      : 'recording and pushing';
  return { node: f.node, ready, reason, checks };
}

export function formatReadiness(r: Readiness, question = 'take over'): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map(
    (c) =>
      `${c.status === 'ok' ? 'ok  ' : c.status === 'skip' ? 'skip' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`,
  );
  lines.push(r.ready ? `${r.node} is ready to ${question}` : `${r.node} is NOT ready to ${question}`);
  return `${lines.join('\n')}\n`;
}
