import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './proc.js';

/**
 * `child-cli.js ARGS...`: the CLI run from the unbundled tsc output (dist/cli/main.js) instead of
 * the esbuild bundle bin/gitfailover.js runs, to measure what the bundle saves in the same run.
 */
const { main } = (await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href)) as {
  main: (argv: string[]) => Promise<number>;
};
process.exitCode = await main(process.argv);
