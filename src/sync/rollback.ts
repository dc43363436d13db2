import type { NodeConfig } from '../config/load.js';
import { runCommand } from '../loaders/commands.js';
import type { Loader } from '../loaders/loader.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { openTargetSecrets, SecretOpener } from '../secrets/render-secrets.js';
import { readTarget } from './read-target.js';

/** How often a rollback step that failed is tried again: each step is idempotent, and a transient EIO or EBUSY must not leave a domain half-restored. */
const ROLLBACK_ATTEMPTS = 3;

export interface RollbackInput {
  cfg: NodeConfig;
  repo: NodeRepo;
  loader: Loader;
  domainsDir: string;
  renderOpts: RenderOptions;
  /** The commit to put back; undefined: nothing was applied before, so what was written goes. */
  applied: string | undefined;
  domains: readonly string[];
  globals: readonly string[];
}

type Step = () => Promise<void> | void;

/**
 * Put the domains and files this apply already changed back as the applied commit had them, and
 * load those domains again. Total: every step is tried even when an earlier one failed, and a
 * failed step is tried again (each is idempotent); it throws only when a step still fails.
 */
export async function rollback(r: RollbackInput): Promise<void> {
  if (r.domains.length + r.globals.length === 0) return;
  let pending = r.applied ? await restoreSteps(r, r.applied) : removeSteps(r);
  let lastError: unknown;
  for (let attempt = 0; attempt < ROLLBACK_ATTEMPTS && pending.length > 0; attempt++) {
    const failed: Step[] = [];
    for (const step of pending) {
      try {
        await step();
      } catch (err) {
        lastError = err;
        failed.push(step);
      }
    }
    pending = failed;
  }
  if (pending.length > 0) throw lastError;
}

function removeSteps({ loader, domains, globals }: RollbackInput): Step[] {
  return [...globals.map((p) => () => loader.removeGlobal(p)), ...domains.map((d) => () => loader.deleteDomain(d))];
}

async function restoreSteps(r: RollbackInput, applied: string): Promise<Step[]> {
  const { cfg, loader, domainsDir, renderOpts } = r;
  // A secret is `x.age` in the commit and `x` in the live dir: read either, open what is sealed.
  const files = await readTarget(
    r.repo,
    applied,
    { domains: [...r.domains], globals: [...r.globals, ...r.globals.map((p) => `${p}.age`)] },
    { domainsDir, maxFileSize: Number.MAX_SAFE_INTEGER },
  );
  const opener = new SecretOpener(cfg, applied, renderOpts);
  for (const list of [files.globals, ...files.domains.values()]) await openTargetSecrets(opener, list);
  const previous = new Map(files.globals.map((f) => [f.path, f]));
  const steps: Step[] = [];
  // Globals first: a global file where the applied commit has a domains folder must go before
  // that folder can be put back.
  for (const p of [...r.globals].sort((a, b) => Number(previous.has(a)) - Number(previous.has(b)))) {
    const f = previous.get(p);
    steps.push(
      f ? () => loader.writeGlobal(p, renderFile(f.path, f.content, renderOpts)) : () => loader.removeGlobal(p),
    );
  }
  for (const d of r.domains) {
    const dfiles = files.domains.get(d) ?? [];
    if (dfiles.length === 0) {
      steps.push(() => loader.deleteDomain(d));
      continue;
    }
    const prefix = `${domainsDir}/${d}/`;
    const rendered = new Map(
      dfiles.map((f) => [f.path.slice(prefix.length), renderFile(f.path, f.content, renderOpts)]),
    );
    steps.push(async () => {
      loader.writeDomain(d, rendered);
      if (!cfg.commands.load) return;
      const at = {
        node: cfg.node,
        commit: applied,
        domain: d,
        dir: loader.domainDir(d),
        timeoutMs: cfg.commands.timeout,
      };
      await runCommand(cfg.commands.load, { action: 'load', ...at }).catch(() => {});
    });
  }
  return steps;
}
