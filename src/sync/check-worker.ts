import { parentPort, workerData } from 'node:worker_threads';
import { checkAndRender, renderOptionsOf, type FileJob, type RenderSettings } from './check-render.js';

/**
 * A check worker (check-pool.ts): runs checkAndRender on the batches the sync sends it. Buffers
 * arrive as plain Uint8Arrays (structured clone), so they are wrapped as Buffers again, without a copy.
 */
const settings = workerData as RenderSettings;
const opts = renderOptionsOf(settings);

parentPort!.on('message', (msg: { id: number; jobs: { path: string; content: Uint8Array; check: boolean }[] }) => {
  try {
    const verdicts = msg.jobs.map((j) => {
      const job: FileJob = { path: j.path, content: Buffer.from(j.content.buffer, j.content.byteOffset, j.content.byteLength), check: j.check };
      return checkAndRender(job, opts, settings.domainsDir);
    });
    parentPort!.postMessage({ id: msg.id, verdicts });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
