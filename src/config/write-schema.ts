import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { nodeFileSchema } from './schema.js';

/** Run at build time: publishes the node file's JSON Schema in the package. */
export function nodeFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(nodeFileSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://gitfailover.dev/schema/node-file.schema.json',
    title: 'gitfailover node file (gitfailover.yaml)',
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema', 'node-file.schema.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(nodeFileJsonSchema(), null, 2)}\n`);
}
