// Full syncs back and forth between two commits, forever, until the trial runner SIGKILLs it.
const [dist, nodeFile, a, b] = process.argv.slice(2);
const { loadNodeFile } = await import(`${dist}/config/load.js`);
const { syncOnce } = await import(`${dist}/sync/sync.js`);
const cfg = loadNodeFile({ file: nodeFile });
process.stdout.write('ready\n');
// Started ahead of its trial (so node's start-up is not part of the trial): wait for "go".
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let i = 0; ; i++) {
  const out = await syncOnce(cfg, { full: true, to: i % 2 === 0 ? a : b, onDemand: true });
  if (!out.result.success) process.stderr.write(`sync failed: ${out.result.error}\n`);
}
