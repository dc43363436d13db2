import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { GitfailoverError } from '../errors.js';
import { gitEnv, holdChild } from './git.js';

/**
 * A `git cat-file --batch-command` kept open: a read costs a round trip on a pipe, not a process
 * (the figures: shared/reference/git-performance.md). Requests are answered in order, so a FIFO
 * of pending reads is matched against the output stream. `info` asks for the type and size
 * alone, so a size can be checked before the content is read.
 */
export interface BlobObject {
  oid: string;
  type: string;
  content: Buffer;
}

export interface ObjectInfo {
  oid: string;
  type: string;
  size: number;
}

interface Pending {
  /** `info` answers with a header line only. */
  info: boolean;
  resolve: (o: BlobObject | ObjectInfo | undefined) => void;
  reject: (e: Error) => void;
}

export class BlobReader {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buf: Buffer = Buffer.alloc(0);
  /**
   * Pending reads, oldest at `head`. Not `Array.shift()`: on a large array that moves every
   * element, and a full sync queues one read per file (quadratic; bench/findings.md, item 1).
   */
  private queue: Pending[] = [];
  private head = 0;

  constructor(private readonly gitDir: string) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['--git-dir', this.gitDir, 'cat-file', '--batch-command'], {
      env: gitEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    const fail = (e: Error) => {
      const pending = this.queue.slice(this.head);
      this.queue = [];
      this.head = 0;
      for (const p of pending) p.reject(e);
      this.child = undefined;
      this.buf = Buffer.alloc(0);
    };
    child.on('error', (e) => fail(new GitfailoverError('E_GIT_MISSING', `cannot run git cat-file: ${e.message}`)));
    child.on('close', () =>
      fail(new GitfailoverError('E_GIT', 'git cat-file --batch-command exited unexpectedly', { kind: 'waiting' })),
    );
    child.stdin.on('error', () => {});
    this.child = child;
    this.hold(false);
    return child;
  }

  /** Node's event loop held only while a caller waits (holdChild). */
  private hold(on: boolean): void {
    holdChild(this.child, on);
  }

  private next(): Pending {
    const p = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Pending;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.hold(false);
    }
    return p;
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const header = this.buf.subarray(0, nl).toString('utf8');
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        this.buf = this.buf.subarray(nl + 1);
        this.next().resolve(undefined);
        continue;
      }
      const [oid, type, sizeText] = header.split(' ');
      const size = Number(sizeText);
      if (this.queue[this.head]!.info) {
        this.buf = this.buf.subarray(nl + 1);
        this.next().resolve({ oid: oid!, type: type!, size });
        continue;
      }
      if (this.buf.length < nl + 1 + size + 1) return; // wait for the rest
      const content = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + size));
      this.buf = this.buf.subarray(nl + 1 + size + 1);
      this.next().resolve({ oid: oid!, type: type!, content });
    }
  }

  /** `rev` is an object id or `<commit>:<path>`; undefined when it does not exist. */
  read(rev: string): Promise<BlobObject | undefined> {
    return this.ask(rev, false) as Promise<BlobObject | undefined>;
  }

  /** The type and size of `rev` without its content; undefined when it does not exist. */
  info(rev: string): Promise<ObjectInfo | undefined> {
    return this.ask(rev, true) as Promise<ObjectInfo | undefined>;
  }

  private ask(rev: string, info: boolean): Promise<BlobObject | ObjectInfo | undefined> {
    if (rev.includes('\n'))
      return Promise.reject(new GitfailoverError('E_BAD_REV', `invalid object name ${JSON.stringify(rev)}`));
    const child = this.start();
    if (this.head === this.queue.length) this.hold(true);
    return new Promise((resolve, reject) => {
      this.queue.push({ info, resolve, reject });
      child.stdin.write(`${info ? 'info' : 'contents'} ${rev}\n`);
    });
  }

  async readBlob(rev: string): Promise<Buffer | undefined> {
    const o = await this.read(rev);
    return o?.type === 'blob' ? o.content : undefined;
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c) {
      c.stdin.end();
      c.kill();
    }
  }
}
