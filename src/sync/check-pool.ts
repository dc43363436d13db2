import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { renderOptionsFor } from '../render/render-file.js';
import { checkAndRender, type FileJob, type FileVerdict, type RenderSettings } from './check-render.js';

/**
 * Runs checkAndRender over many files on worker threads: parsing is most of a cold full sync's
 * CPU, and its garbage collection would otherwise run on the sync's own thread (BENCHMARKS.md). Batches go to whichever worker is free, while the sync
 * goes on reading the next blobs from git. Results come back in the order of the batch.
 *
 * Without a built worker script (the sources run under vitest) the batches run in this thread:
 * the same function, so the result is the same.
 */
const WORKER = new URL('./check-worker.js', import.meta.url);
const IN_FLIGHT = 2;

interface Task {
  id: number;
  jobs: FileJob[];
  resolve: (v: FileVerdict[]) => void;
  reject: (e: Error) => void;
}

export class CheckPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Task[] = [];
  /**
   * Each worker's batches in flight, oldest first (a worker answers in order). Two each: the next
   * batch already waits in the worker's port while the sync's thread is busy writing files.
   */
  private readonly running = new Map<Worker, Task[]>();
  private seq = 0;
  private failed: Error | undefined;

  /** `size` workers (default: one per core, at most 4); 0 runs every batch in this thread. */
  constructor(
    private readonly settings: RenderSettings,
    size = Math.min(4, availableParallelism()),
    worker: URL = WORKER,
  ) {
    const usable = size > 0 && existsSync(fileURLToPath(worker));
    for (let i = 0; usable && i < size; i++) {
      const w = new Worker(worker, { workerData: settings });
      w.on('message', (m: { id: number; verdicts?: FileVerdict[]; error?: string }) => this.done(w, m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => code !== 0 && this.fail(new Error(`check worker exited with code ${code}`)));
      this.workers.push(w);
      this.running.set(w, []);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Check and render one batch; the verdicts are in the batch's order. */
  run(jobs: FileJob[]): Promise<FileVerdict[]> {
    if (this.workers.length === 0) {
      const opts = renderOptionsFor(this.settings.substitution, this.settings.file, this.settings.domainsDir);
      try {
        return Promise.resolve(jobs.map((j) => checkAndRender(j, opts, this.settings.domainsDir)));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: ++this.seq, jobs, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w: Worker | undefined;
      for (const c of this.workers)
        if (this.running.get(c)!.length < (w ? this.running.get(w)!.length : IN_FLIGHT)) w = c;
      if (!w) return;
      const t = this.queue.shift()!;
      this.running.get(w)!.push(t);
      // One buffer per batch, moved to the worker (not copied): the files' Buffers are views into
      // cat-file's output chunks, and cloning a view clones the whole chunk under it.
      const bytes = Buffer.allocUnsafeSlow(t.jobs.reduce((n, j) => n + j.content.length, 0));
      const ends: number[] = [];
      let at = 0;
      for (const j of t.jobs) {
        j.content.copy(bytes, at);
        ends.push((at += j.content.length));
      }
      const ab = bytes.buffer as ArrayBuffer;
      w.postMessage(
        { id: t.id, paths: t.jobs.map((j) => j.path), checks: t.jobs.map((j) => j.check), ends, bytes: ab },
        [ab],
      );
    }
  }

  private done(w: Worker, m: { id: number; verdicts?: FileVerdict[]; error?: string }): void {
    const t = this.running.get(w)?.shift();
    if (t) {
      if (m.verdicts) {
        // Rendered bytes come back as Uint8Arrays: Buffers again, without a copy.
        for (const v of m.verdicts)
          if (v.rendered) v.rendered = Buffer.from(v.rendered.buffer, v.rendered.byteOffset, v.rendered.byteLength);
        t.resolve(m.verdicts);
      } else t.reject(new Error(`check worker failed: ${m.error}`));
    }
    this.pump();
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const t of [...[...this.running.values()].flat(), ...this.queue]) t.reject(e);
    for (const list of this.running.values()) list.length = 0;
    this.queue.length = 0;
  }
}
