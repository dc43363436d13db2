import { GitfailoverError } from '../errors.js';
import { BindingIndex, type BindingFact, hostPort, splitBinding } from '../model/admit.js';
import type { SyncPlan } from './plan.js';
import type { StandbyState, StateStore } from './state.js';

/**
 * Two services of the standby may not bind one ip:port: checked against the domains left as they
 * are (the applied bindings `state` names, read from their file only when needed; not by a full sync).
 */
export function checkBindings(
  fresh: Record<string, string[]>,
  store: StateStore,
  state: StandbyState,
  plan: SyncPlan,
  commit: string,
  domainsDir: string,
): void {
  // admit.ts's rule: one ip:port per service, and a wildcard overlaps its family on that port.
  const index = new BindingIndex();
  const replaced = new Set([...plan.load, ...plan.delete]);
  if (plan.mode === 'partial') {
    // The stored bindings are conflict-free: every apply passed this check before they were
    // written, and they change only with an apply. A partial sync keeps every other domain as it
    // is and deleting a domain only frees bindings, so when each loaded domain binds exactly what
    // it bound before (a user change, the common case) the result binds what the applied state
    // does and cannot conflict: no map of every domain's bindings.
    if (plan.load.every((d) => store.sameBindings(state, d, fresh[d]))) return;
    for (const [d, list] of Object.entries(store.bindings(state)))
      if (!replaced.has(d)) for (const b of list) index.add(factOf(b, d));
  }
  for (const [d, list] of Object.entries(fresh)) {
    for (const b of list) {
      const other = index.add(factOf(b, d));
      if (other !== undefined) {
        const mine = splitBinding(b);
        const theirs = other.ip === mine.ip ? '' : `overlaps ${hostPort(other.ip, other.port)}, which `;
        throw new GitfailoverError(
          'E_DUPLICATE_BINDING',
          `commit ${commit.slice(0, 12)} is refused: ${domainsDir}/${d}/services.yaml: domain ${d} binds ${b} (after IP substitution), which ${theirs}domain ${other.domain === d ? 'itself already binds' : `${other.domain} already binds`}. Nothing was applied`,
          { kind: 'stalling', location: { file: `${domainsDir}/${d}/services.yaml`, commit } },
        );
      }
    }
  }
}

function factOf(binding: string, domain: string): BindingFact {
  const { ip, port } = splitBinding(binding);
  return { file: domain, line: 1, col: 1, service: '', ip, port, domain };
}
