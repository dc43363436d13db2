#!/usr/bin/env node
// keepalived's fallback track_script runs `ready --quiet`: a fresh yes from the daemon answers it
// without loading the tool (src/cli/ready-quiet.ts).
const args = process.argv.slice(2);
const fast =
  args[0] === 'ready' && args.includes('--quiet')
    ? (await import('../dist/cli/ready-quiet.js')).readyQuietFast(args.slice(1))
    : undefined;
if (fast !== undefined) process.exitCode = fast;
else {
  const { main } = await import('../dist/bundle/main.js');
  process.exitCode = await main(process.argv);
}
