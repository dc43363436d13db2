import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BIN, ROOT, git } from '../helpers/fixture.js';
import { cleanEnv, mustRun, PKG, packTarball, run, type Ran } from '../helpers/package.js';

/**
 * The path the config repo's CI workflow and the servers take once the package is public, with
 * a real npm registry on loopback: verdaccio (test/tools, pinned by its own lock file) serves the
 * package this test publishes to it, and proxies its dependencies from the npm registry.
 * Then the workflow that `init` writes is checked by a real linter (@action-validator/cli) and
 * its `run` steps, taken from the YAML, are executed in a config repo with no package.json.
 */
const TOOLS = join(ROOT, 'test', 'tools');
const VERDACCIO = join(TOOLS, 'node_modules', '.bin', 'verdaccio');
const LINTER = join(TOOLS, 'node_modules', '.bin', 'action-validator');

let tmp: string;
let registry: string;
let verdaccio: ChildProcess | undefined;
let verdaccioLog = '';
let npmEnv: NodeJS.ProcessEnv;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startVerdaccio(dir: string): Promise<string> {
  const port = await freePort();
  // dependencies come through the registry this machine's npm uses (the npm registry, or a mirror)
  const uplink =
    (await mustRun('npm', ['config', 'get', 'registry'], { cwd: dir })).stdout.trim() || 'https://registry.npmjs.org/';
  const config = join(dir, 'verdaccio.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      'uplinks:',
      '  npmjs:',
      `    url: ${uplink}`,
      'packages:',
      // never proxied: whatever installs gitfailover here got the copy this test published
      "  'gitfailover':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    proxy: npmjs',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  verdaccio = spawn(VERDACCIO, ['--config', config, '--listen', `127.0.0.1:${port}`], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  verdaccio.stdout!.on('data', (d: Buffer) => (verdaccioLog += d.toString()));
  verdaccio.stderr!.on('data', (d: Buffer) => (verdaccioLog += d.toString()));
  const url = `http://127.0.0.1:${port}/`;
  // ready when it answers its ping (no fixed sleep)
  for (;;) {
    if (verdaccio.exitCode !== null) throw new Error(`verdaccio exited ${verdaccio.exitCode}:\n${verdaccioLog}`);
    const ok = await fetch(`${url}-/ping`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return url;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A user on the registry (verdaccio's htpasswd lets anyone sign up), and its token for npm. */
async function addUser(url: string): Promise<string> {
  const res = await fetch(`${url}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'ci',
      password: 'ci-password-for-a-throwaway-registry',
      email: 'ci@example.invalid',
      type: 'user',
    }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`verdaccio refused the user: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npm run build` (npm test does)');
  if (!existsSync(VERDACCIO) || !existsSync(LINTER)) {
    // .ci/run installs them; on a fresh clone the first run does (the npm registry, as for npm ci)
    await mustRun('npm', ['ci', '--prefix', TOOLS, '--no-audit', '--no-fund'], { cwd: ROOT, timeoutMs: 600_000 });
  }
  tmp = mkdtempSync(join(tmpdir(), 'gf-registry-'));
  registry = await startVerdaccio(tmp);
  const token = await addUser(registry);
  const npmrc = join(tmp, 'npmrc');
  writeFileSync(npmrc, `//${registry.replace(/^http:\/\//, '')}:_authToken=${token}\n`);
  // every npm below: this registry, its own user config and an empty cache of its own, so that
  // nothing comes from the npm cache of the machine
  npmEnv = cleanEnv({
    NPM_CONFIG_REGISTRY: registry,
    NPM_CONFIG_USERCONFIG: npmrc,
    NPM_CONFIG_CACHE: join(tmp, 'npm-cache'),
  });
  const tgz = await packTarball(tmp);
  await mustRun('npm', ['publish', tgz, '--tag', 'latest'], { cwd: tmp, env: npmEnv });
}, 900_000);

afterAll(async () => {
  if (verdaccio && verdaccio.exitCode === null) {
    const exited = new Promise((r) => verdaccio!.once('exit', r));
    verdaccio.kill('SIGKILL');
    await exited;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a local npm registry', () => {
  it(`serves gitfailover@${PKG.version} as published, and it installs into an empty folder and runs`, async () => {
    const meta = (await (await fetch(`${registry}gitfailover`)).json()) as { 'dist-tags': Record<string, string> };
    expect(meta['dist-tags'].latest).toBe(PKG.version);
    const app = join(tmp, 'app');
    mkdirSync(app);
    const installed = await run('npm', ['install', `gitfailover@${PKG.version}`], {
      cwd: app,
      env: npmEnv,
      timeoutMs: 600_000,
    });
    expect(installed.code, installed.stdout + installed.stderr + verdaccioLog).toBe(0);
    const lock = readFileSync(join(app, 'package-lock.json'), 'utf8');
    expect(lock).toContain(`${registry}gitfailover/-/gitfailover-${PKG.version}.tgz`);
    const gf = join(app, 'node_modules', '.bin', 'gitfailover');
    const version = await run(gf, ['--version'], { cwd: app, env: npmEnv });
    expect(version.stdout.trim()).toBe(PKG.version);
    const init = await run(gf, ['init', 'cfg'], { cwd: app, env: npmEnv });
    expect(init.code, init.stderr).toBe(0);
    const validate = await run(gf, ['validate', 'cfg'], { cwd: app, env: npmEnv });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
  }, 600_000);
});

type Step = {
  name?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  'working-directory'?: string;
};

/** A `run` step as GitHub runs it on ubuntu: `bash -e` with the step's script, in the workspace. */
function runStep(step: Step, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], {
    cwd,
    env: { ...env, ...step.env },
    timeoutMs: 600_000,
  });
}

describe('the CI workflow that init writes, and action.yml', () => {
  let repo: string;
  let workflow: { jobs: Record<string, { steps: Step[] }> };
  let workflowFile: string;

  beforeAll(async () => {
    repo = join(tmp, 'config-repo');
    await mustRun(process.execPath, [BIN, 'init', repo], { cwd: tmp });
    workflowFile = join(repo, '.github', 'workflows', 'config-check.yml');
    workflow = parse(readFileSync(workflowFile, 'utf8'));
    await git(['init', '-q', '-b', 'main'], repo);
    await git(['add', '.'], repo);
    await git(
      ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', 'initial configuration'],
      repo,
    );
  });

  it('pass a real workflow linter', async () => {
    for (const file of [workflowFile, join(ROOT, 'action.yml')]) {
      const r = await run(LINTER, [file], { cwd: ROOT });
      expect(r.code, `${file}:\n${r.stdout}${r.stderr}`).toBe(0);
    }
    // and the linter does refuse a broken one (a job without runs-on)
    const broken = join(tmp, 'broken.yml');
    writeFileSync(broken, 'name: x\non: push\njobs:\n  a:\n    steps:\n      - run: echo\n');
    expect((await run(LINTER, [broken], { cwd: ROOT })).code).toBe(1);
  });

  it('runs the pinned version from the registry: annotations and exit 1 for a bad commit, nothing and exit 0 for a good one', async () => {
    const steps = Object.values(workflow.jobs).flatMap((j) => j.steps.filter((s) => s.run !== undefined));
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) {
      expect(s.run, 'a run step with an expression needs evaluating here').not.toContain('${{');
      expect(s.run).toContain(`gitfailover@${PKG.version}`);
    }
    expect(existsSync(join(repo, 'package.json'))).toBe(false);
    const env = { ...npmEnv, GITHUB_ACTIONS: 'true', CI: 'true' };

    const good: Ran[] = [];
    for (const s of steps) good.push(await runStep(s, repo, env));
    for (const r of good) {
      expect(r.code, r.stdout + r.stderr + verdaccioLog).toBe(0);
      expect(r.stdout + r.stderr).not.toContain('::error');
      expect(r.stdout).toBe('');
    }

    // a bad commit: a port out of range
    const services = join(repo, 'domains', 'acme', 'services.yaml');
    writeFileSync(services, readFileSync(services, 'utf8').replace('port: 990', 'port: 70000'));
    const line =
      readFileSync(services, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('70000')) + 1;
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qam', 'bad port'], repo);
    const bad: Ran[] = [];
    for (const s of steps) bad.push(await runStep(s, repo, env));
    const last = bad.at(-1)!;
    expect(last.code, last.stdout + last.stderr).toBe(1);
    expect(last.stdout).toContain(`::error file=domains/acme/services.yaml,line=${line},`);
    expect(last.stdout).toContain('title=E_PORT_INVALID::');
  }, 900_000);

  it("action.yml's validate step, with the action's own copy as github.action_path", async () => {
    // Its `npm ci` step is not run here: in the checkout it would replace the node_modules the
    // tests run on. The checkout is already what that step builds.
    const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as { runs: { steps: Step[] } };
    const step = action.runs.steps.find((s) => s.name === 'Validate the configuration')!;
    const expr = (inputs: Record<string, string>) => (v: string) =>
      v.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (_m, e: string) => {
        if (e === 'github.action_path') return ROOT;
        if (e.startsWith('inputs.')) return inputs[e.slice(7)] ?? '';
        throw new Error(`action.yml: expression ${e} is not evaluated by this test`);
      });
    const withInputs = (inputs: Record<string, string>): Step => {
      const ev = expr(inputs);
      return {
        ...step,
        run: ev(step.run!),
        env: Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, ev(v)])),
      };
    };
    const bad = await runStep(withInputs({ path: '.', 'node-file': '' }), repo, cleanEnv());
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stdout).toContain('::error file=domains/acme/services.yaml,');
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'revert', '--no-edit', 'HEAD'], repo);
    const sub = join(tmp, 'with space');
    mkdirSync(sub, { recursive: true });
    const good = await runStep(withInputs({ path: repo, 'node-file': '' }), sub, cleanEnv());
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toBe('');
    // a node file given as input reaches --node (a missing one is a configuration error, exit 2)
    const withNode = await runStep(
      withInputs({ path: repo, 'node-file': join(sub, 'no such node.yaml') }),
      sub,
      cleanEnv(),
    );
    expect(withNode.code).toBe(2);
    expect(withNode.stderr).toContain('no such node.yaml');
  }, 120_000);
});
