import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files a sync has already parsed and schema-checked, as `<blob id> <path>` (content
 * addressed: a blob that passed the checks at a path passes them there forever, so a full sync
 * re-loading content it has seen parses nothing). The path is part of the key because the checks
 * read it (a user file's `name` must match its file name). Services files also keep their
 * services as `ip|port|name` (check-render.ts bindingOf, before IP substitution), so bindings
 * need no second parse.
 *
 * Only passes are kept: a refused blob is parsed again each time, so its error is always reported
 * in full. The header names the rules' version and the domains folder; any change starts afresh.
 */
const FILE = 'checked-blobs';
// v2: each service is `ip|port|name` (v1 had no name), so a v1 file is read as empty.
const HEADER = 'gitfailover checked-blobs v2';
/** Prefix of a value this sync looked up; never in the file (values are `ip|port|name` lists). */
const USED = '\u0001';

export class CheckedBlobs {
  private readonly known = new Map<string, string>();
  private added: string[] = [];
  /** How many entries this sync looked up (marked USED in `known`): a compaction keeps those and what it added. */
  private usedCount = 0;
  private readonly path: string;
  private readonly header: string;

  constructor(stateDir: string, domainsDir: string) {
    this.path = join(stateDir, FILE);
    this.header = `${HEADER} ${domainsDir}`;
    if (!existsSync(this.path)) return;
    const lines = readFileSync(this.path, 'utf8').split('\n');
    if (lines[0] !== this.header) return;
    // The last element is '' after a complete write, or a line cut short by a crash: never trusted.
    for (let i = 1; i < lines.length - 1; i++) {
      const line = lines[i]!;
      const tab = line.lastIndexOf('\t');
      if (tab > 41) this.known.set(line.slice(0, tab), line.slice(tab + 1));
    }
  }

  /** Was (oid, path) checked and found good? */
  has(oid: string, path: string): boolean {
    const key = `${oid} ${path}`;
    const v = this.known.get(key);
    if (v === undefined) return false;
    // Marked in place rather than kept in a Set: a Set would hold a second copy of every key.
    if (!v.startsWith(USED)) {
      this.known.set(key, USED + v);
      this.usedCount++;
    }
    return true;
  }

  /** The cached bindings of a good services blob, as `ip|port|name` before IP substitution. */
  bindings(oid: string, path: string): string[] | undefined {
    const marked = this.known.get(`${oid} ${path}`);
    if (marked === undefined) return undefined;
    const v = marked.startsWith(USED) ? marked.slice(1) : marked;
    return v === '' ? [] : v.split(',');
  }

  add(oid: string, path: string, bindings: readonly string[] = []): void {
    // A path with a line break or tab cannot be written as one line: it is simply checked every time.
    if (/[\n\t]/.test(path)) return;
    const key = `${oid} ${path}`;
    // Only the line to write is kept, not a lookup entry: a sync reads each path once, so what it
    // adds is never looked up again before the next sync loads the file.
    if (!this.known.has(key)) this.added.push(`${key}\t${bindings.join(',')}`);
  }

  /**
   * Persist what this sync added (one append). After a full sync, when most entries belong to
   * content no longer in the tree, the file is rewritten with this sync's entries only, so it
   * stays about the size of one tree instead of growing with history.
   */
  save(full = false): void {
    if (full && this.known.size > 2 * this.usedCount + 1000) {
      const lines: string[] = [];
      for (const [k, v] of this.known) if (v.startsWith(USED)) lines.push(`${k}\t${v.slice(1)}`);
      writeFileSync(this.path, `${[this.header, ...lines, ...this.added].join('\n')}\n`);
      this.added = [];
      return;
    }
    if (this.added.length === 0) return;
    const body = `${this.added.join('\n')}\n`;
    if (existsSync(this.path) && this.known.size > 0) appendFileSync(this.path, body);
    else writeFileSync(this.path, `${this.header}\n${body}`);
    this.added = [];
  }
}
