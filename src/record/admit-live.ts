import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import {
  admitBytes,
  admitCount,
  admitEntry,
  admitParsed,
  admitShape,
  admitText,
  admitTriggers,
  plaintextPasswords,
  printable,
  RULE,
  type AdmitLimits,
  type EntryFacts,
} from '../model/admit.js';
import { fastAccept } from '../model/fast-accept.js';
import { domainsDirOf, REPO_ONLY } from '../model/layout.js';
import { isModelFile, parseConfigFile, sortProblems, type ParsedFile, type Problem } from '../model/parse.js';
import { checkBindings } from '../model/validate.js';
import type { GitIndex } from '../repo/git-index.js';
import { nodeSecrets, secretIn } from './secrets.js';

/**
 * The record gate: the admission rules (admit.ts) over what a record would take in, run before
 * `git add`, so nothing refused ever enters the primary's object store and nothing a standby
 * would refuse is recorded. Git itself lists the candidates (untracked and modified files of the
 * private index, live.exclude applied) without hashing them; their sizes come from lstat.
 */
export interface LiveAdmission {
  /** Files over repo.maxFileSize: data, left out of the record (and out of the repo), with a warning each. */
  leftOut: { path: string; size: number }[];
  warnings: string[];
}

/** `excludes`: pathspecs record's `git add` leaves out too (declared secrets, which are recorded encrypted). */
export async function admitLive(
  index: GitIndex,
  cfg: NodeConfig,
  excludes: readonly string[] = [],
): Promise<LiveAdmission> {
  const domainsDir = domainsDirOf(cfg.live.domains);
  const limits: AdmitLimits = { domainsDir, maxFileSize: cfg.repo.maxFileSize, maxFiles: cfg.repo.maxFiles };
  const repoOnly = REPO_ONLY.map((p) => `:(top,exclude)${p}`);
  // One scan of the live dir for both lists; -t tags each path: `?` untracked, `C` modified.
  const { untracked: others, modified } = await index.changedFiles(cfg.live.dir, ['.', ...repoOnly, ...excludes]);

  const problems: Problem[] = [];
  const leftOut: LiveAdmission['leftOut'] = [];
  const toRead: string[] = [];
  const facts: EntryFacts[] = [];
  let deleted = 0;
  for (const raw of new Set([...others, ...modified])) {
    // ls-files shows an untracked nested repository as `dir/`: a submodule to git add.
    const path = raw.endsWith('/') ? raw.slice(0, -1) : raw;
    let st: import('node:fs').Stats;
    try {
      st = lstatSync(join(cfg.live.dir, path));
    } catch {
      deleted++;
      continue;
    }
    const kind: EntryFacts['kind'] = raw.endsWith('/')
      ? 'submodule'
      : st.isSymbolicLink()
        ? 'symlink'
        : st.isDirectory()
          ? 'submodule'
          : 'file';
    const e: EntryFacts = {
      path,
      kind,
      mode: kind === 'file' ? st.mode : undefined,
      size: kind === 'file' ? st.size : 0,
    };
    facts.push(e);
    const found = admitEntry(e, limits);
    if (found.length === 1 && found[0]!.code === RULE.tooLarge) leftOut.push({ path, size: e.size });
    else if (found.length > 0) problems.push(...found);
    else if (kind === 'file') toRead.push(path);
  }
  problems.push(...admitShape(facts, domainsDir));
  if (others.length > 0) {
    // Only new files can raise the count: the index's entries plus the new ones, minus the gone.
    const tracked = await index.count();
    problems.push(...admitCount(tracked + others.length - leftOut.length - deleted, limits, cfg.live.dir));
  }

  const secrets = nodeSecrets(cfg);
  const parsed: ParsedFile[] = [];
  let servicesChanged = false;
  for (const path of toRead) {
    const bytes = readFileSync(join(cfg.live.dir, path));
    const own = secretIn(bytes, secrets);
    // A private key is the shared rule (admitBytes); a value of this node's own secrets only this node knows.
    if (own && !own.startsWith('a private key'))
      problems.push({
        file: printable(path),
        line: 1,
        col: 1,
        code: RULE.privateKey,
        message: `holds ${own}: a secret committed to the config repo stays in its history; declare the file a secret (secrets.files in ${cfg.file}: it is then recorded encrypted with age), move it out of the live dir, or add the file to live.exclude`,
      });
    problems.push(...admitBytes(path, bytes));
    if (!isModelFile(path, domainsDir)) continue;
    const t = admitText(path, bytes);
    problems.push(...t.problems);
    if (t.text === undefined) continue;
    // The standby's fast path: a plain user file or domain.yaml it passes has no problem to find.
    const fast = fastAccept(path, t.text, domainsDir);
    if (fast && plaintextPasswords(fast.value).length === 0) continue;
    const f = parseConfigFile(path, t.text, domainsDir);
    problems.push(...f.problems, ...admitParsed(f));
    if (f.kind === 'triggers' && f.problems.length === 0) problems.push(...admitTriggers(path, t.text));
    if (f.kind === 'services') servicesChanged = true;
    parsed.push(f);
  }
  // A changed services.yaml is checked against every domain's bindings, as validate does.
  if (servicesChanged) problems.push(...checkBindings(allServices(cfg.live.dir, domainsDir, parsed)));

  if (problems.length > 0) throw refusal(sortProblems(problems), cfg);
  return {
    leftOut,
    warnings: leftOut.map(
      (l) =>
        `${printable(l.path)} is ${l.size} bytes, over repo.maxFileSize (${cfg.repo.maxFileSize}): not recorded; the repo keeps the version recorded before, if any, so no node loses it (add it to live.exclude if it is data)`,
    ),
  };
}

/** Every services.yaml of the live dir, parsed (the ones just read reused). */
function allServices(liveDir: string, domainsDir: string, read: readonly ParsedFile[]): ParsedFile[] {
  const byPath = new Map(read.filter((f) => f.kind === 'services').map((f) => [f.path, f]));
  let domains: string[] = [];
  try {
    domains = readdirSync(join(liveDir, domainsDir)).sort();
  } catch {
    return [...byPath.values()];
  }
  const out: ParsedFile[] = [];
  for (const d of domains) {
    const path = `${domainsDir}/${d}/services.yaml`;
    const known = byPath.get(path);
    if (known) {
      out.push(known);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(join(liveDir, path), 'utf8');
    } catch {
      continue;
    }
    out.push(parseConfigFile(path, text, domainsDir));
  }
  return out;
}

function refusal(problems: Problem[], cfg: NodeConfig): GitfailoverError {
  const lines = problems.map((p) => `${p.file}${p.line > 1 ? `:${p.line}:${p.col}` : ''}: ${p.message} [${p.code}]`);
  const first = problems[0]!;
  return new GitfailoverError(
    first.code,
    `nothing was recorded: the live dir ${cfg.live.dir} holds what every standby would refuse (fix or exclude each file, then record again):\n  ${lines.join('\n  ')}`,
    { kind: 'stalling', location: { file: first.file, line: first.line, col: first.col }, data: { problems } },
  );
}
