import { GitfailoverError } from '../errors.js';
import { admitBytes } from '../model/admit.js';
import { isModelFile, sortProblems, type Problem } from '../model/parse.js';
import { normalizeIp } from '../model/schemas.js';
import type { RenderOptions } from '../render/render-file.js';
import { substituteIp } from '../render/substitute.js';
import type { CheckedBlobs } from './checked-blobs.js';
import { CheckPool } from './check-pool.js';
import {
  checkAndRender,
  needsWork,
  parseBinding,
  type FileJob,
  type FileVerdict,
  type RenderSettings,
} from './check-render.js';
import { gitBlobId } from '../model/tree-source.js';
import { isSecretPath } from '../secrets/age.js';
import { READ_BATCH, type TargetFile } from './read-target.js';

/** A rendered domain or global file, as it will be in the live dir. */
export interface Rendered {
  domains: Map<string, Map<string, Buffer>>;
  globals: Map<string, Buffer>;
  bindings: Record<string, string[]>;
  /** Each domain's service names, index for index with `bindings` (for the substitution.unmapped event). */
  services: Record<string, string[]>;
  /** The blob id of content that rendering left as it was: the manifest needs no hash of it. */
  oids: WeakMap<Buffer, string>;
  /**
   * Domains staged ahead whose bytes were dropped (their Map in `domains` is empty and goes back
   * to the loader as it is, which swaps its build in): their manifest shard, as the text to write.
   */
  manifests: Map<string, string>;
  /**
   * The same, when the shard was staged on disk as the domain was built (a full sync): true when
   * it is to be moved in at commit, false when the shard in place already says the same.
   */
  shards: Map<string, boolean>;
}

/**
 * Checks (parse + schema) and renders the files of an apply as readTarget hands them over, on
 * the pool's workers for a large sync. Refuses on the first problem, in file order, before
 * anything is applied: every problem of every file is collected first, so the message can say
 * how many more there are.
 */
/** Batches of READ_BATCH files in flight at most: enough to keep every worker busy with one queued behind. */
const MAX_UNSETTLED = 4;

export class CheckWork {
  private readonly verdicts = new Map<TargetFile, FileVerdict>();
  private readonly pending: Promise<void>[] = [];
  private readonly domainsDir: string;
  /** Started at the first full batch (a sync reading thousands of files); small syncs never pay for threads. */
  private pool: CheckPool | undefined;
  /** Each domain's files as read so far, and its rendered files once built (the same Map goes to the loader). */
  private readonly byDomain = new Map<string, TargetFile[]>();
  private readonly renderedDomains = new Map<string, Map<string, Buffer>>();
  /** Staging ahead of the apply runs batch after batch, in read order. */
  private staging: Promise<void> = Promise.resolve();
  private readonly refusedBytes: Problem[] = [];
  private readonly manifests = new Map<string, string>();
  private readonly shards = new Map<string, boolean>();
  /** Batches handed to the workers whose verdicts are not yet in (and staged), and the reads waiting on them. */
  private unsettled = 0;
  private readonly waiting: (() => void)[] = [];
  /** Dropped domains' bindings and service names (their verdicts are gone). */
  private readonly droppedBindings = new Map<string, { bindings: string[]; names: string[] }>();
  /** readTarget's map of the files read: a dropped domain's list is emptied there too. */
  private read?: Map<string, TargetFile[]>;

  constructor(
    private readonly settings: RenderSettings,
    private readonly opts: RenderOptions,
    private readonly checked?: CheckedBlobs,
    /** Build domains ahead of the apply (Loader.stage) as their checks pass; only with worker threads. */
    private stage?: (domain: string, files: ReadonlyMap<string, Buffer>) => boolean,
    /**
     * Drop a staged domain's bytes once the loader has them (a full sync: memory stays bounded
     * by the batches in flight, not by the commit). Not when a later step reads them again.
     */
    private readonly dropStaged = false,
    /** Where a dropped domain's manifest shard goes at once (false: the one in place says the same). */
    private readonly stageShard?: (domain: string, text: string) => boolean,
  ) {
    this.domainsDir = settings.domainsDir;
  }

  /** Stops the workers, after any staging still writing (so a refusal's cleanup finds it all). */
  async close(): Promise<void> {
    await this.staging.catch(() => {});
    await this.pool?.close();
  }

  /**
   * Hand over a batch. The promise returned resolves once few enough batches are in flight: git
   * reads much faster than the workers check, and without this wait every blob of the commit
   * would queue for the workers at once.
   */
  add(files: TargetFile[], complete: string[] = [], read?: Map<string, TargetFile[]>): Promise<void> | undefined {
    this.read ??= read;
    if (!this.pool && files.length >= READ_BATCH) this.pool = new CheckPool(this.settings);
    const picked: TargetFile[] = [];
    const jobs: FileJob[] = [];
    const prefix = `${this.domainsDir}/`;
    for (const f of files) {
      // Content rules for every file, YAML or not (a private key block), before any is applied.
      const refused = admitBytes(f.path, f.content);
      if (refused.length > 0) this.refusedBytes.push(...refused);
      if (this.stage && this.pool && f.path.startsWith(prefix)) {
        const d = f.path.slice(prefix.length, f.path.indexOf('/', prefix.length));
        const list = this.byDomain.get(d);
        if (list) list.push(f);
        else this.byDomain.set(d, [f]);
      }
      // A known-good blob is not checked again (content addressed): at most rendered.
      const job: FileJob = {
        path: f.path,
        content: f.content,
        check: isModelFile(f.path, this.domainsDir) && !this.checked?.has(f.oid, f.path),
      };
      if (!needsWork(job, this.opts, this.domainsDir)) continue;
      picked.push(f);
      jobs.push(job);
    }
    if (!this.pool) {
      jobs.forEach((j, i) => this.verdicts.set(picked[i]!, checkAndRender(j, this.opts, this.domainsDir)));
      return undefined;
    }
    const run =
      jobs.length === 0
        ? Promise.resolve()
        : this.pool.run(jobs).then((vs) => vs.forEach((v, i) => this.verdicts.set(picked[i]!, v)));
    run.catch(() => {}); // awaited in finish(); a failure before then is not unhandled
    this.pending.push(run);
    if (this.stage) {
      // A domain's files may span batches, and batches finish in any order: stage in read order,
      // after every earlier batch's verdicts (a batch that completes no domain is waited for too).
      this.staging = Promise.all([this.staging, run]).then(() => {
        for (const d of complete) this.stageDomain(d);
      });
      this.staging.catch(() => {});
    }
    this.unsettled++;
    (this.stage ? this.staging : run)
      .catch(() => {})
      .finally(() => {
        this.unsettled--;
        this.waiting.shift()?.();
      });
    if (this.unsettled <= MAX_UNSETTLED) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private stageDomain(domain: string): void {
    const files = this.byDomain.get(domain);
    this.byDomain.delete(domain);
    if (!this.stage || !files) return;
    if (files.some((f) => (this.verdicts.get(f)?.problems.length ?? 0) > 0 || this.verdicts.get(f)?.renderError)) {
      this.stage = undefined; // the sync will be refused: build nothing more
      return;
    }
    const m = this.renderedFiles(domain, files);
    let kept: boolean;
    try {
      kept = this.stage(domain, m);
    } catch {
      this.stage = undefined; // e.g. a full disk: the apply writes the domain itself and reports it
      return;
    }
    // A secret is opened after the check into a new Map, which the apply builds from: keep its bytes.
    if (kept && this.dropStaged && ![...m.keys()].some(isSecretPath)) this.drop(domain, files, m);
  }

  /**
   * Keep of a staged domain only what the rest of the sync needs: its manifest shard (staged on
   * disk when stageShard is given, else its text), its bindings, and its files' passes in the
   * known-good list (content addressed: a pass stays a pass whatever else the sync finds; the
   * list is saved only if the whole sync passes).
   */
  private drop(domain: string, files: TargetFile[], m: Map<string, Buffer>): void {
    const entries: Record<string, string> = {};
    const cut = this.domainsDir.length + domain.length + 2;
    const services = files.find(
      (f) => f.path.length === cut + 'services.yaml'.length && f.path.endsWith('/services.yaml'),
    );
    this.droppedBindings.set(domain, services ? this.bindingsOf(services) : { bindings: [], names: [] });
    for (const f of files) {
      const v = this.verdicts.get(f);
      entries[f.path] = v?.rendered ? gitBlobId(v.rendered) : f.oid;
      if (v && this.checked && isModelFile(f.path, this.domainsDir) && !this.checked.has(f.oid, f.path))
        this.checked.add(f.oid, f.path, v.bindings ?? []);
      this.verdicts.delete(f);
    }
    m.clear(); // the same (now empty) Map goes back to the loader's writeDomain(), which only swaps
    const text = JSON.stringify(entries);
    if (this.stageShard) this.shards.set(domain, this.stageShard(domain, text));
    else this.manifests.set(domain, text);
    this.read?.set(domain, []);
  }

  private renderedFiles(domain: string, files: TargetFile[]): Map<string, Buffer> {
    let m = this.renderedDomains.get(domain);
    if (m) return m;
    m = new Map<string, Buffer>();
    const cut = this.domainsDir.length + domain.length + 2;
    for (const f of files) m.set(f.path.slice(cut), this.verdicts.get(f)?.rendered ?? f.content);
    this.renderedDomains.set(domain, m);
    return m;
  }

  async finish(
    files: { domains: Map<string, TargetFile[]>; globals: TargetFile[] },
    commit: string,
  ): Promise<Rendered> {
    await Promise.all(this.pending);
    await this.staging;
    const ordered = [...[...files.domains.values()].flat(), ...files.globals];
    const problems: Problem[] = [...this.refusedBytes];
    for (const f of ordered) problems.push(...(this.verdicts.get(f)?.problems ?? []));
    if (problems.length > 0) {
      sortProblems(problems);
      const p = problems[0]!;
      const more =
        problems.length > 1
          ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}: run "gitfailover validate")`
          : '';
      throw new GitfailoverError(
        p.code,
        `commit ${commit.slice(0, 12)} is refused: ${p.file}:${p.line}:${p.col}: ${p.field ? `${p.field}: ` : ''}${p.message}${more}. Nothing was applied; fix the file (or git revert the commit) and push`,
        {
          kind: 'stalling',
          location: { file: p.file, line: p.line, col: p.col, field: p.field, commit },
          data: { problems },
        },
      );
    }
    if (this.checked) {
      for (const f of ordered) {
        const v = this.verdicts.get(f);
        // Checked now (not vouched for already) and passed: remembered, services with their bindings.
        if (v && isModelFile(f.path, this.domainsDir) && !this.checked.has(f.oid, f.path))
          this.checked.add(f.oid, f.path, v.bindings ?? []);
      }
    }
    for (const f of ordered) {
      const e = this.verdicts.get(f)?.renderError;
      if (e)
        throw new GitfailoverError(e.code, `commit ${commit.slice(0, 12)} is refused: ${e.message}`, {
          kind: 'stalling',
          location: { ...e.location, file: e.location.file ?? f.path, commit },
        });
    }
    const out: Rendered = {
      domains: new Map(),
      globals: new Map(),
      bindings: {},
      services: {},
      oids: new WeakMap(),
      manifests: this.manifests,
      shards: this.shards,
    };
    for (const f of ordered) if (!this.verdicts.get(f)?.rendered) out.oids.set(f.content, f.oid);
    for (const [domain, dfiles] of files.domains) {
      const prefix = `${this.domainsDir}/${domain}/`;
      out.domains.set(domain, this.renderedFiles(domain, dfiles));
      const dropped = this.droppedBindings.get(domain);
      if (dropped) {
        out.bindings[domain] = dropped.bindings;
        out.services[domain] = dropped.names;
        continue;
      }
      const services = dfiles.find((f) => f.path === `${prefix}services.yaml`);
      const b = services ? this.bindingsOf(services) : { bindings: [], names: [] };
      out.bindings[domain] = b.bindings;
      out.services[domain] = b.names;
    }
    for (const f of files.globals) out.globals.set(f.path, this.verdicts.get(f)?.rendered ?? f.content);
    return out;
  }

  /** A domain's bindings after IP substitution, from this check or the known-good list (no second parse). */
  private bindingsOf(services: TargetFile): { bindings: string[]; names: string[] } {
    // Every services.yaml was either checked now (its verdict has the bindings) or is in the
    // known-good list (which has them): no third way, so no second parse here.
    const raw = this.verdicts.get(services)?.bindings ?? this.checked?.bindings(services.oid, services.path);
    if (!raw)
      throw new GitfailoverError(
        'E_INTERNAL',
        `${services.path}: no bindings from its check nor from the known-good list`,
      );
    const bindings: string[] = [];
    const names: string[] = [];
    for (const b of raw) {
      const { ip, port, name } = parseBinding(b);
      bindings.push(`${normalizeIp(substituteIp(ip, this.opts.ipMap)) ?? ip}:${port}`);
      names.push(name);
    }
    return { bindings, names };
  }
}
