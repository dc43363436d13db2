import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The real CLI as a process (`node bin/gitfailover.js`), as a user and CI run it. Assumes dist/
 * is built (`npm test` builds first).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin', 'gitfailover.js');

function run(args: string[], cwd = ROOT): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
let n = 0;
/** A fresh config repo from `init`. */
function initRepo(): string {
  const dir = join(tmp, `repo${++n}`);
  const r = run(['init', dir]);
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

function edit(dir: string, rel: string, f: (text: string) => string): void {
  const p = join(dir, rel);
  writeFileSync(p, f(existsSync(p) ? readFileSync(p, 'utf8') : ''));
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npx tsc -p tsconfig.build.json` (npm test does)');
  tmp = mkdtempSync(join(tmpdir(), 'gf-validate-init-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('gitfailover init', () => {
  it('scaffolds a config repo that validates clean', () => {
    const dir = join(tmp, 'x');
    const r = run(['init', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Next steps/);
    for (const f of [
      'server.yaml',
      'README.md',
      'domains/acme/domain.yaml',
      'domains/acme/services.yaml',
      'domains/acme/users/alice.yaml',
      'domains/acme/users/bob.yaml',
      '.github/workflows/config-check.yml',
    ])
      expect(existsSync(join(dir, f)), f).toBe(true);

    const services = parse(readFileSync(join(dir, 'domains/acme/services.yaml'), 'utf8'));
    expect(services.services).toHaveLength(2);
    const alice = parse(readFileSync(join(dir, 'domains/acme/users/alice.yaml'), 'utf8'));
    expect(alice.passwordHash).toMatch(/^\$2b\$/);

    const wf = parse(readFileSync(join(dir, '.github/workflows/config-check.yml'), 'utf8'));
    expect(Object.keys(wf.on)).toEqual(['push', 'pull_request']);
    const steps = wf.jobs.validate.steps as { uses?: string; run?: string; with?: Record<string, unknown> }[];
    expect(steps.some((s) => s.uses?.startsWith('actions/checkout@'))).toBe(true);
    expect(steps.find((s) => s.uses?.startsWith('actions/setup-node@'))?.with?.['node-version']).toBe(20);
    // pinned to the version that ran init, never a bare name (test/integration/registry.test.ts runs it)
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(steps.some((s) => s.run === `npx --yes gitfailover@${version} validate --format github`)).toBe(true);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(`npx --yes gitfailover@${version} validate .`);
    expect(r.stdout).toContain(`runs gitfailover@${version}`);

    const v = run(['validate', dir]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/no problems/);
  });

  it('refuses a non-empty folder unless --force', () => {
    const dir = join(tmp, 'nonempty');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    const r = run(['init', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty.*--force/);
    expect(existsSync(join(dir, 'server.yaml'))).toBe(false);

    const f = run(['init', dir, '--force']);
    expect(f.code, f.stderr).toBe(0);
    expect(existsSync(join(dir, 'server.yaml'))).toBe(true);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('mine');
  });
});

describe('gitfailover validate', () => {
  it('says a folder that is not a config repo is not one, and exits 1', () => {
    const empty = join(tmp, 'not-a-repo');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'hello\n');
    const r = run(['validate', empty]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/no problems/);
    expect(r.stderr).toBe(
      `gitfailover validate: ${empty} is not a config repo: it has neither server.yaml nor domains/; give the folder of a config repo, or create one with \`gitfailover init ${empty}\`\n`,
    );
    const gh = run(['validate', '--format', 'github'], empty);
    expect(gh.code).toBe(1);
    expect(gh.stdout).toMatch(/^::error title=E_NOT_CONFIG_REPO::\. is not a config repo/);
    const json = run(['validate', empty, '--format', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'E_NOT_CONFIG_REPO' } });
    // one of the two is enough: a repo whose domains are all gone still has server.yaml
    writeFileSync(join(empty, 'server.yaml'), 'name: x\n');
    expect(run(['validate', empty]).stdout).not.toMatch(/not a config repo/);
  });

  it('validates the current folder by default', () => {
    const dir = initRepo();
    const r = run(['validate'], dir);
    expect(r.code, r.stdout).toBe(0);
  });

  it('names file and line of bad YAML', () => {
    const dir = initRepo();
    edit(dir, 'domains/acme/users/bob.yaml', (t) => t.replace(/^home: .*$/m, 'home: [unclosed'));
    const r = run(['validate', '.'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^domains\/acme\/users\/bob\.yaml:\d+:\d+: invalid YAML/m);
    expect(r.stdout).toMatch(/1 problem in 1 file/);
  });

  it('names file and line of a port of 70000', () => {
    const dir = initRepo();
    edit(dir, 'domains/acme/services.yaml', (t) => t.replace('port: 990', 'port: 70000'));
    const line =
      readFileSync(join(dir, 'domains/acme/services.yaml'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('70000')) + 1;
    const r = run(['validate'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `domains/acme/services.yaml:${line}:11: services[1].port: must be a port number from 1 to 65535 (got 70000) [E_PORT_INVALID]`,
    );
  });

  it('names both services of a duplicate ip:port across domains', () => {
    const dir = initRepo();
    mkdirSync(join(dir, 'domains/beta'));
    writeFileSync(join(dir, 'domains/beta/domain.yaml'), 'name: beta\n');
    writeFileSync(
      join(dir, 'domains/beta/services.yaml'),
      'services:\n  - name: clash\n    protocol: sftp\n    ip: 10.0.0.5\n    port: 22\n',
    );
    const r = run(['validate'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^domains\/beta\/services\.yaml:4:9: .*10\.0\.0\.5:22 of service clash is already used by .*service sftp-main \(domains\/acme\/services\.yaml:\d+:\d+\)/m,
    );
  });

  it('refuses unsafe domain and user folder names on disk', () => {
    const dir = initRepo();
    for (const d of ['a..b', ' bad name']) {
      mkdirSync(join(dir, 'domains', d));
      writeFileSync(join(dir, 'domains', d, 'domain.yaml'), 'enabled: true\n');
    }
    writeFileSync(join(dir, 'domains/acme/users/..hidden.yaml'), 'home: /x\n');
    const r = run(['validate', '--format', 'json'], dir);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: { file: string; code: string; line: number }[] };
    expect(out.ok).toBe(false);
    expect(out.problems.map((p) => [p.code, p.file, p.line])).toEqual([
      ['E_UNSAFE_NAME', 'domains/ bad name', 1],
      ['E_UNSAFE_NAME', 'domains/a..b', 1],
      ['E_UNSAFE_NAME', 'domains/acme/users/..hidden.yaml', 1],
    ]);
  });

  it('prints GitHub workflow commands with --format github', () => {
    const dir = initRepo();
    edit(dir, 'domains/acme/services.yaml', (t) => t.replace('port: 990', 'port: 70000'));
    edit(dir, 'domains/acme/users/alice.yaml', (t) => t.replace(/passwordHash: .*/, 'password: "hunter2, or 100%"'));
    const line =
      readFileSync(join(dir, 'domains/acme/users/alice.yaml'), 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith('password:')) + 1;
    const r = run(['validate', '--format', 'github'], dir);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^::error file=domains\/acme\/services\.yaml,line=\d+,col=11,title=E_PORT_INVALID::services\[1\]\.port: must be/,
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^::error file=domains/acme/users/alice\\.yaml,line=${line},col=11,title=E_PLAINTEXT_PASSWORD::password: looks like a plaintext password`,
      ),
    );
    expect(r.stdout).not.toContain('hunter2, or 100%"');
  });

  it('prints JSON with --format json, clean or not', () => {
    const dir = initRepo();
    const clean = run(['validate', dir, '--format', 'json']);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, problems: [] });

    edit(dir, 'domains/acme/services.yaml', (t) => t.replace('ip: 10.0.0.5', 'ip: 10.0.0.500'));
    const bad = run(['validate', dir, '--format', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      ok: false,
      problems: [
        {
          file: 'domains/acme/services.yaml',
          line: expect.any(Number),
          col: 9,
          field: 'services[0].ip',
          code: 'E_IP_INVALID',
        },
      ],
    });
  });

  it('checks the node file substitution with --node, and the size limit', () => {
    const dir = initRepo();
    const node = join(tmp, `node${n}.yaml`);
    writeFileSync(
      node,
      `node: failover-1\nrole: standby\nrepo: {remote: /srv/git/x.git, stateDir: ${tmp}/state}\nlive: {dir: ${tmp}/live}\nsubstitution:\n  ips: {10.0.0.9: 10.1.0.9}\n`,
    );
    const r = run(['validate', dir, '--node', node, '--format', 'json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problems.map((p: { code: string }) => p.code)).toEqual([
      'E_IP_NOT_SUBSTITUTED',
      'E_IP_NOT_SUBSTITUTED',
    ]);

    writeFileSync(node, readFileSync(node, 'utf8').replace('10.0.0.9: 10.1.0.9', '"10.0.0.5": 10.1.0.5'));
    expect(run(['validate', dir, '--node', node]).code).toBe(0);

    const small = run(['validate', dir, '--max-file-size', '100']);
    expect(small.code).toBe(1);
    expect(small.stdout).toContain('E_FILE_TOO_LARGE');
  });

  it('exits 2 on usage errors', () => {
    const dir = initRepo();
    const fmt = run(['validate', dir, '--format', 'xml']);
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toMatch(/--format "xml"/);
    const missing = run(['validate', join(tmp, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    expect(run(['validate', dir, '--max-file-size', 'lots']).code).toBe(2);
    const badNode = run(['validate', dir, '--node', join(tmp, 'no-node.yaml')]);
    expect(badNode.code).toBe(2);
    expect(badNode.stderr).toMatch(/no-node\.yaml/);
  });
});
