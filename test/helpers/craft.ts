import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

/**
 * Writes git objects straight into a (bare) repository, as an attacker with write access to the
 * remote could: tree entries git's own porcelain refuses to make (`..`, `.git`, a `/` or a NUL
 * inside a name, symlinks, gitlinks) are one byte string away. Loose objects are written by hand
 * (zlib of `<type> <len>\0<content>`), so a commit of 10,000 domains costs no process per object.
 */
export interface CraftFile {
  /** Path segments; a segment may itself contain `/` or `\0` (that is the point of some cases). */
  path: string[];
  /** 100644 (default), 100755, 120000 (symlink: content is the target), 160000 (gitlink: oid). */
  mode?: string;
  content?: Buffer | string;
  /** For a gitlink, or to reuse a blob already written. */
  oid?: string;
}

type Dir = Map<string, { dir?: Dir; file?: CraftFile }>;

export class Crafter {
  private time = 1_700_000_000;

  constructor(readonly gitDir: string) {}

  write(type: 'blob' | 'tree' | 'commit', content: Buffer): string {
    const raw = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]);
    const oid = createHash('sha1').update(raw).digest('hex');
    const dir = join(this.gitDir, 'objects', oid.slice(0, 2));
    const file = join(dir, oid.slice(2));
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, deflateSync(raw, { level: 1 }));
    }
    return oid;
  }

  blob(content: Buffer | string): string {
    return this.write('blob', Buffer.isBuffer(content) ? content : Buffer.from(content));
  }

  /** A tree from its entries; sorted as git sorts them (a folder compares as `name/`). */
  tree(entries: { mode: string; name: string; oid: string }[]): string {
    const key = (e: { mode: string; name: string }) => Buffer.from(e.mode === '40000' ? `${e.name}/` : e.name);
    const sorted = [...entries].sort((a, b) => Buffer.compare(key(a), key(b)));
    const parts = sorted.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.oid, 'hex')]));
    return this.write('tree', Buffer.concat(parts));
  }

  /** A whole tree from a list of files. */
  buildTree(files: CraftFile[]): string {
    const root: Dir = new Map();
    for (const f of files) {
      let d = root;
      f.path.slice(0, -1).forEach((seg) => {
        let n = d.get(seg);
        if (!n) d.set(seg, (n = {}));
        n.dir ??= new Map();
        d = n.dir;
      });
      d.set(f.path[f.path.length - 1]!, { file: f });
    }
    const write = (d: Dir): string =>
      this.tree(
        [...d].map(([name, n]) =>
          n.dir
            ? { mode: '40000', name, oid: write(n.dir) }
            : { mode: n.file!.mode ?? '100644', name, oid: n.file!.oid ?? this.blob(n.file!.content ?? '') },
        ),
      );
    return write(root);
  }

  commit(tree: string, parents: string[], message: string): string {
    const t = this.time++;
    const who = `Mallory <mallory@example.com> ${t} +0000`;
    const text = [
      `tree ${tree}`,
      ...parents.map((p) => `parent ${p}`),
      `author ${who}`,
      `committer ${who}`,
      '',
      message,
      '',
    ].join('\n');
    return this.write('commit', Buffer.from(text));
  }

  /** Point the branch at `commit` (what a push, or a force-push, does to the remote). */
  setBranch(branch: string, commit: string): void {
    execFileSync('git', ['--git-dir', this.gitDir, 'update-ref', `refs/heads/${branch}`, commit]);
  }
}

/** `{"a/b.yaml": "text"}` -> CraftFile list (plain paths only). */
export function files(map: Record<string, string | Buffer>): CraftFile[] {
  return Object.entries(map).map(([p, content]) => ({ path: p.split('/'), content }));
}
