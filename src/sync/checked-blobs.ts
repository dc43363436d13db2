import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
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
 *
 * Held compactly (one entry per file of the tree): each entry's binary blob id and path bytes in
 * one Buffer, found through an open-addressing table of entry numbers; lookups compare the id and
 * the path exactly. What a sync adds goes to a side file as it comes (`.adding`), joined to the
 * list only when the sync passes (save).
 */
const FILE = 'checked-blobs';
const ADDING = 'checked-blobs.adding';
// v2: each service is `ip|port|name` (v1 had no name), so a v1 file is read as empty.
const HEADER = 'gitfailover checked-blobs v2';
/** Added lines are written to the side file in pieces of about this many bytes. */
const FLUSH = 1 << 20;

export class CheckedBlobs {
  /** Entry i: bytes [starts[i], starts[i+1]) of `data`: the binary blob id (`idBytes`), then the path. */
  private data: Buffer = Buffer.alloc(0);
  private starts = new Uint32Array(1);
  private count = 0;
  private idBytes = 20;
  /** Entry number + 1 per slot (0: empty); a power of two at least twice the entries. */
  private table = new Uint32Array(0);
  /** Services' bindings by entry number (only the entries that have any). */
  private readonly values = new Map<number, string>();
  /** Entries this sync looked up: a compaction keeps those and what it added. */
  private used = new Uint8Array(0);
  private usedCount = 0;
  private addedText = '';
  private addedAny = false;
  /** A lookup's id and path, encoded here (no allocation per lookup). */
  private scratch = Buffer.alloc(4096);
  private readonly path: string;
  private readonly adding: string;
  private readonly header: string;

  constructor(stateDir: string, domainsDir: string) {
    this.path = join(stateDir, FILE);
    this.adding = join(stateDir, ADDING);
    this.header = `${HEADER} ${domainsDir}`;
    rmSync(this.adding, { force: true }); // a sync that did not pass (or was killed) left it
    if (!existsSync(this.path)) return;
    this.load(readFileSync(this.path));
  }

  private load(file: Buffer): void {
    const head = Buffer.from(`${this.header}\n`);
    if (file.length < head.length || !file.subarray(0, head.length).equals(head)) return;
    // Lines: count first, so every array is allocated once.
    let lines = 0;
    for (let i = file.indexOf(10, head.length); i >= 0; i = file.indexOf(10, i + 1)) lines++;
    this.data = Buffer.allocUnsafe(file.length);
    this.starts = new Uint32Array(lines + 1);
    this.used = new Uint8Array(lines);
    this.table = new Uint32Array(tableSize(lines));
    let at = 0;
    // The part after the last line break is a line cut short by a crash: never trusted.
    for (let s = head.length, nl = file.indexOf(10, s); nl >= 0; s = nl + 1, nl = file.indexOf(10, s)) {
      const sp = file.indexOf(32, s);
      const tab = file.lastIndexOf(9, nl);
      if (sp < 0 || sp > nl || tab < sp || tab - s <= 41 || (sp - s) % 2 !== 0 || sp - s > 128) continue;
      const idBytes = (sp - s) / 2;
      if (this.count === 0) this.idBytes = idBytes;
      if (idBytes !== this.idBytes) continue;
      const n = this.count;
      if (this.data.write(file.toString('latin1', s, sp), at, 'hex') !== idBytes) continue;
      file.copy(this.data, at + idBytes, sp + 1, tab);
      const end = at + idBytes + (tab - sp - 1);
      if (this.find(at, end) >= 0) continue; // a line written twice: the first one counts
      this.starts[n] = at;
      this.starts[n + 1] = end;
      if (nl > tab + 1) this.values.set(n, file.toString('utf8', tab + 1, nl));
      this.insert(n, at, end);
      this.count++;
      at = end;
    }
    const data = Buffer.allocUnsafeSlow(at); // not a view: the first allocation was the file's size
    this.data.copy(data, 0, 0, at);
    this.data = data;
  }

  private hashOf(buf: Buffer, start: number, end: number): number {
    // The blob id is already uniform; the path is mixed in (FNV-1a) for one content at many paths.
    let h = buf.readUInt32LE(start) ^ 0x811c9dc5;
    for (let i = start + this.idBytes; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    return h >>> 0;
  }

  private insert(n: number, start: number, end: number): void {
    const mask = this.table.length - 1;
    let slot = this.hashOf(this.data, start, end) & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = n + 1;
  }

  /** The entry whose id and path are bytes [start, end) of `buf` (data or scratch), or -1. */
  private find(start: number, end: number, buf: Buffer = this.data): number {
    if (this.table.length === 0) return -1;
    const mask = this.table.length - 1;
    for (let slot = this.hashOf(buf, start, end) & mask; ; slot = (slot + 1) & mask) {
      const v = this.table[slot]!;
      if (v === 0) return -1;
      const s = this.starts[v - 1]!;
      const e = this.starts[v]!;
      if (e - s === end - start && this.data.compare(buf, start, end, s, e) === 0) return v - 1;
    }
  }

  /** The entry of (oid, path), or -1. */
  private lookup(oid: string, path: string): number {
    if (this.count === 0 || oid.length !== this.idBytes * 2) return -1;
    const need = this.idBytes + Buffer.byteLength(path);
    if (need > this.scratch.length) this.scratch = Buffer.alloc(need * 2);
    if (this.scratch.write(oid, 0, 'hex') !== this.idBytes) return -1;
    this.scratch.write(path, this.idBytes, 'utf8');
    return this.find(0, need, this.scratch);
  }

  /** Was (oid, path) checked and found good? */
  has(oid: string, path: string): boolean {
    const n = this.lookup(oid, path);
    if (n < 0) return false;
    if (this.used[n] === 0) {
      this.used[n] = 1;
      this.usedCount++;
    }
    return true;
  }

  /** The cached bindings of a good services blob, as `ip|port|name` before IP substitution. */
  bindings(oid: string, path: string): string[] | undefined {
    const n = this.lookup(oid, path);
    if (n < 0) return undefined;
    const v = this.values.get(n) ?? '';
    return v === '' ? [] : v.split(',');
  }

  add(oid: string, path: string, bindings: readonly string[] = []): void {
    // A path with a line break or tab cannot be written as one line: it is simply checked every time.
    if (/[\n\t]/.test(path)) return;
    // Written out, not kept: a sync reads each path once, so what it adds is never looked up
    // again before the next sync loads the file.
    if (this.lookup(oid, path) >= 0) return;
    this.addedText += `${oid} ${path}\t${bindings.join(',')}\n`;
    if (this.addedText.length >= FLUSH) this.flush();
  }

  private flush(): void {
    if (this.addedText === '') return;
    appendFileSync(this.adding, this.addedText);
    this.addedText = '';
    this.addedAny = true;
  }

  /**
   * Persist what this sync added (one append). After a full sync, when most entries belong to
   * content no longer in the tree, the file is rewritten with this sync's entries only, so it
   * stays about the size of one tree instead of growing with history.
   */
  save(full = false): void {
    this.flush();
    if (full && this.count > 2 * this.usedCount + 1000) {
      const tmp = `${this.path}.tmp`;
      const fd = openSync(tmp, 'w');
      try {
        let text = `${this.header}\n`;
        for (let n = 0; n < this.count; n++) {
          if (this.used[n] === 0) continue;
          const s = this.starts[n]!;
          text += `${this.data.toString('hex', s, s + this.idBytes)} ${this.data.toString('utf8', s + this.idBytes, this.starts[n + 1]!)}\t${this.values.get(n) ?? ''}\n`;
          if (text.length >= FLUSH) {
            writeSync(fd, text);
            text = '';
          }
        }
        writeSync(fd, text);
        if (this.addedAny) copyInto(fd, this.adding);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } else if (this.addedAny) {
      const fresh = !(existsSync(this.path) && this.count > 0);
      const fd = openSync(this.path, fresh ? 'w' : 'a');
      try {
        if (fresh) writeSync(fd, `${this.header}\n`);
        copyInto(fd, this.adding);
      } finally {
        closeSync(fd);
      }
    }
    rmSync(this.adding, { force: true });
    this.addedAny = false;
  }
}

function tableSize(entries: number): number {
  let size = 1024;
  while (size < entries * 2) size *= 2;
  return size;
}

/** Appends the file at `from` to the open file `fd`, a piece at a time. */
function copyInto(fd: number, from: string): void {
  const src = openSync(from, 'r');
  const piece = Buffer.allocUnsafe(FLUSH);
  try {
    for (let n = readSync(src, piece); n > 0; n = readSync(src, piece)) writeSync(fd, piece, 0, n);
  } finally {
    closeSync(src);
  }
}
