/**
 * Pure parsers of git's output (simple-git's shape): the commands are built beside them in repo/,
 * and each is tested on canned output (test/unit/repo/parsers.test.ts).
 */

/** One line of `git diff-tree -r --raw`. */
export interface DiffEntry {
  status: 'A' | 'M' | 'D' | 'T';
  path: string;
  oldOid: string;
  newOid: string;
  oldMode: string;
  newMode: string;
}

/** One line of `git ls-tree -r -l`. */
export interface LsEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
  size: number;
  path: string;
}

export function parseRawDiff(out: string): DiffEntry[] {
  const parts = out.split('\0');
  const entries: DiffEntry[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i]!;
    if (!meta.startsWith(':')) break;
    const [oldMode, newMode, oldOid, newOid, status] = meta.slice(1).split(' ');
    entries.push({
      status: status![0] as DiffEntry['status'],
      path: parts[i + 1]!,
      oldOid: oldOid!,
      newOid: newOid!,
      oldMode: oldMode!,
      newMode: newMode!,
    });
  }
  return entries;
}

/**
 * A raw tree object (`<mode> <name>\0<binary id>` entries) as ls-tree would list it, each name
 * after `prefix`; sizes are 0 (the caller asks for them). The id length follows the content:
 * 20 bytes for SHA-1, 32 for SHA-256 (`idBytes`).
 */
export function parseTreeObject(content: Buffer, prefix: string, idBytes = 20): LsEntry[] {
  const out: LsEntry[] = [];
  let i = 0;
  while (i < content.length) {
    const sp = content.indexOf(32, i);
    const nul = content.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + idBytes > content.length) throw new Error('malformed tree object');
    const rawMode = content.toString('latin1', i, sp);
    const mode = rawMode.padStart(6, '0');
    const type: LsEntry['type'] = rawMode === '40000' ? 'tree' : rawMode === '160000' ? 'commit' : 'blob';
    out.push({
      mode,
      type,
      oid: content.toString('hex', nul + 1, nul + 1 + idBytes),
      size: 0,
      path: prefix + content.toString('utf8', sp + 1, nul),
    });
    i = nul + 1 + idBytes;
  }
  return out;
}

export function parseLsTree(out: string): LsEntry[] {
  const entries: LsEntry[] = [];
  for (const line of out.split('\0')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    const [mode, type, oid, size] = line.slice(0, tab).split(/ +/);
    entries.push({
      mode: mode!,
      type: type as LsEntry['type'],
      oid: oid!,
      size: size === '-' ? 0 : Number(size),
      path: line.slice(tab + 1),
    });
  }
  return entries;
}

/** NUL-separated paths (`ls-files -z`, `diff-tree --name-only -z`). */
export function parseNulList(out: string): string[] {
  return out.split('\0').filter(Boolean);
}

/** One entry of `ls-files -z --stage`: `<mode> <oid> <stage>\t<path>`. */
export interface StagedEntry {
  mode: string;
  oid: string;
  path: string;
}

export function parseLsFilesStage(out: string): StagedEntry[] {
  const entries: StagedEntry[] = [];
  for (const line of parseNulList(out)) {
    const tab = line.indexOf('\t');
    const [mode, oid] = line.slice(0, tab).split(' ');
    entries.push({ mode: mode!, oid: oid!, path: line.slice(tab + 1) });
  }
  return entries;
}

/**
 * `ls-files -z -t --others --modified`: `? <path>` for an untracked file, another tag (`C`) for a
 * modified one. An untracked nested repository is shown as `dir/` and kept so.
 */
export function parseLsFilesTagged(out: string): { untracked: string[]; modified: string[] } {
  const listed = parseNulList(out);
  return {
    untracked: listed.filter((l) => l.startsWith('? ')).map((l) => l.slice(2)),
    modified: listed.filter((l) => !l.startsWith('? ')).map((l) => l.slice(2)),
  };
}

/** `rev-list --parents -n1 <commit>`: the commit's parents, first parent first. */
export function parseParents(out: string): string[] {
  return out.trim().split(' ').slice(1).filter(Boolean);
}

/** Newline-separated ids (`rev-list`, `hash-object --stdin-paths`). */
export function parseLines(out: string): string[] {
  return out.split('\n').filter(Boolean);
}

/** `merge-tree --write-tree --name-only --no-messages`: the tree, and on a conflict (exit 1) the files. */
export function parseMergeTree(out: string, code: number): { tree: string; conflicts?: string[] } {
  const [tree, ...rest] = out.split('\n');
  return code === 1 ? { tree: tree!, conflicts: [...new Set(rest.filter(Boolean))] } : { tree: tree! };
}

/** `%(trailers:key=K,valueonly,separator=%x2C)`: the comma-separated values, undefined when none. */
export function parseTrailerList(out: string): string[] | undefined {
  const text = out.trim();
  if (!text) return undefined;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const FIELD = '\x1f';
const RECORD = '\x1e';

/** `git log --format=` of HISTORY_FORMAT: one commit of the audit trail. */
export interface HistoryEntry {
  commit: string;
  /** The first parent; undefined for a root commit. */
  parent: string | undefined;
  time: string;
  author: string;
  email: string;
  committer: string;
  subject: string;
  body: string;
}

/** Record and field separators a commit message cannot hold as text (ASCII RS and US). */
export const HISTORY_FORMAT = `--format=${RECORD}%H${FIELD}%P${FIELD}%aI${FIELD}%an${FIELD}%ae${FIELD}%cn${FIELD}%s${FIELD}%b`;

export function parseHistory(out: string): HistoryEntry[] {
  return out
    .split(RECORD)
    .filter((s) => s.trim())
    .map((s) => {
      const [commit, parents, time, author, email, committer, subject, body] = s.split(FIELD);
      return {
        commit: commit!,
        parent: parents!.split(' ')[0] || undefined,
        time: time!,
        author: author!,
        email: email!,
        committer: committer!,
        subject: subject!,
        body: (body ?? '').trimEnd(),
      };
    });
}

/** `log -1 --format=%an%x00%ae%x00%aI%x00%B`: a commit's authorship and whole message, to replay it. */
export function parseAuthored(out: string): { author: { name: string; email: string; date: string }; message: string } {
  const [name, email, date, message] = out.split('\0');
  return { author: { name: name!, email: email!, date: date! }, message: message ?? '' };
}
