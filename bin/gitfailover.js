#!/usr/bin/env node
// keepalived runs `ready --quiet` every few seconds: answered from the daemon's fresh verdict
// without loading the whole tool when there is one (src/cli/ready-quiet.ts).
const args = process.argv.slice(2);
const fast =
  args[0] === 'ready' && args.includes('--quiet')
    ? (await import('../dist/cli/ready-quiet.js')).readyQuietFast(args.slice(1))
    : undefined;
if (fast !== undefined) process.exitCode = fast;
else {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
}
