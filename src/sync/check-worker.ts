import { parentPort, workerData } from 'node:worker_threads';
import { renderOptionsFor } from '../render/render-file.js';
import { checkAndRender, type FileJob, type RenderSettings } from './check-render.js';

/**
 * A check worker (check-pool.ts): runs checkAndRender on the batches the sync sends it. A batch's
 * files arrive as one transferred buffer with the end offset of each; each file is a Buffer view
 * into it (no copy).
 */
const settings = workerData as RenderSettings;
const opts = renderOptionsFor(settings.substitution, settings.file, settings.domainsDir);

parentPort!.on(
  'message',
  (msg: { id: number; paths: string[]; checks: boolean[]; ends: number[]; bytes: ArrayBuffer }) => {
    try {
      const verdicts = msg.paths.map((path, i) => {
        const start = i === 0 ? 0 : msg.ends[i - 1]!;
        const job: FileJob = {
          path,
          content: Buffer.from(msg.bytes, start, msg.ends[i]! - start),
          check: msg.checks[i]!,
        };
        return checkAndRender(job, opts, settings.domainsDir);
      });
      parentPort!.postMessage({ id: msg.id, verdicts });
    } catch (err) {
      parentPort!.postMessage({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  },
);
