/**
 * Layers of src/, lowest first: a module may import its own folder and any folder of a LOWER
 * layer, never a higher one, and folders of one layer do not import each other. Cycles are
 * refused too (type-only imports count: they couple the code the same way). When a lower layer
 * needs a higher one's helper, move the helper down; `npm run depcheck` (run before `npm test`)
 * fails otherwise.
 */
const LAYERS = [
  ['errors'], // coded errors, exit codes: imports nothing of ours
  ['util'], // leaves: atomic writes, redaction, the process runner, zod primitives, HTTP listener and signatures
  ['triggers'], // events, conditions, actions (email, webhook, exec): util only
  ['model'], // the config repo: layout, parse, admit, change list (pure)
  ['config'], // the node file: schema and loading
  ['repo'], // git: the only place that runs it
  ['render'], // IP substitution and templates
  ['secrets'], // age encryption of repo files
  ['loaders'], // how a domain is loaded into a server
  ['node-state'], // the node's role override, heartbeat, and the primary the repo names
  ['sync'], // standby: plan, render, apply, state
  ['record'], // primary: admit live edits, commit, push, revert, incoming commits
  ['observe'], // status, readiness, history, metrics, the status page
  ['role'], // promote, demote: built from sync and record
  ['daemon'], // the long-running processes: loops, notify endpoint, signals
  ['doctor'], // checks a node's whole set-up, the daemon's included
  ['init'], // scaffolds a config repo
  ['cli', 'demo'], // entry points
];

const folder = (name) => (name === 'errors' ? '^src/errors\\.ts$' : `^src/${name}/`);
const any = (names) => `(${names.map(folder).join('|')})`;

const layerRules = LAYERS.flatMap((layer, i) => {
  const higher = LAYERS.slice(i + 1).flat();
  const rules = [];
  if (higher.length > 0) {
    rules.push({
      name: `layer-${layer.join('+')}`,
      comment: `${layer.join(', ')} may not import a higher layer (${higher.join(', ')}): move the shared code down`,
      severity: 'error',
      from: { path: any(layer) },
      to: { path: any(higher) },
    });
  }
  for (const name of layer) {
    const siblings = layer.filter((n) => n !== name);
    if (siblings.length === 0) continue;
    rules.push({
      name: `siblings-${name}`,
      comment: `${name} may not import ${siblings.join(', ')} (same layer)`,
      severity: 'error',
      from: { path: folder(name) },
      to: { path: any(siblings) },
    });
  }
  return rules;
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle: two modules that need each other; move what both use into a lower module',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'unlayered-folder',
      comment: 'every folder of src/ belongs to a layer: add a new one to LAYERS in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/[^/]+\\.ts$|${any(LAYERS.flat())}` },
      to: {},
    },
    {
      name: 'git-private-to-repo',
      comment: 'repo/git.ts runs git: only src/repo/ may import it; add a NodeRepo method or a repo/ function instead',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/repo/' },
      to: { path: '^src/repo/git\\.ts$' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
