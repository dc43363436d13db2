import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../helpers/fixture.js';
import { cleanEnv, mustRun, PKG, packTarball, run } from '../helpers/package.js';

/**
 * The release artefact as a person installs it on a server: `npm pack`, then
 * `npm install -g ./gitfailover-<v>.tgz` into a throwaway prefix laid out like /usr/local, then
 * the installed command from a folder outside the checkout. Dependencies come from the npm
 * registry (or npm's cache, filled by `npm ci`).
 */
let tmp: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npm run build` (npm test does)');
  tmp = mkdtempSync(join(tmpdir(), 'gf-package-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm pack', () => {
  it('holds what runs and nothing else: no tests, bench, sources or source maps', async () => {
    const r = await mustRun('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT });
    const [info] = JSON.parse(r.stdout) as { files: { path: string; mode: number }[] }[];
    const paths = info!.files.map((f) => f.path);
    const unexpected = paths.filter(
      (p) => !/^(bin|dist|templates|schema)\//.test(p) && !['package.json', 'README.md', 'LICENSE'].includes(p),
    );
    expect(unexpected).toEqual([]);
    expect(
      paths.filter(
        (p) => /(^|\/)(test|bench|src)\//.test(p) || /\.(ts|map)$/.test(p) || /^dist\/(demo|bench)\//.test(p),
      ),
    ).toEqual([]);
    for (const needed of [
      'bin/gitfailover.js',
      'bin/git-ssh.sh',
      'bin/git-askpass.sh',
      'dist/cli/main.js',
      'dist/sync/check-worker.js',
      'schema/node-file.schema.json',
      'templates/config-repo/.github/workflows/config-check.yml',
      'templates/config-repo/server.yaml',
      'templates/systemd/gitfailover.service',
      'templates/email/default.txt',
      'templates/proftpd/proftpd.conf',
    ])
      expect(paths, needed).toContain(needed);
    // what main/exports/bin name ships in the tarball, not only in the working tree
    for (const target of [PKG.main, ...Object.values(PKG.exports ?? {}), ...Object.values(PKG.bin)])
      if (target !== undefined) expect(paths, target).toContain(target.replace(/^\.\//, ''));
    // the scripts git runs must stay executable once installed
    for (const f of info!.files.filter((f) => f.path.endsWith('.sh') || f.path === 'bin/gitfailover.js'))
      expect(f.mode & 0o111, f.path).not.toBe(0);
  });

  it('points main/exports/bin at files that exist, and keeps type packages out of the runtime dependencies', () => {
    if (PKG.main !== undefined) expect(existsSync(join(ROOT, PKG.main)), PKG.main).toBe(true);
    for (const target of [...Object.values(PKG.exports ?? {}), ...Object.values(PKG.bin)])
      expect(existsSync(join(ROOT, target)), target).toBe(true);
    expect(Object.keys(PKG.dependencies).filter((d) => d.startsWith('@types/'))).toEqual([]);
  });
});

describe('npm install -g of the tarball', () => {
  it('installs one command that works from any folder: --version, init, validate, record, sync, and the systemd units find it', async () => {
    const tgz = await packTarball(tmp);
    expect(tgz).toMatch(new RegExp(`gitfailover-${PKG.version.replace(/\./g, '\\.')}\\.tgz$`));
    // A root laid out like a server's: npm install -g with prefix /usr/local puts the command in /usr/local/bin.
    const root = join(tmp, 'root');
    const prefix = join(root, 'usr', 'local');
    const work = join(tmp, 'work');
    mkdirSync(work, { recursive: true });
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', tgz], {
      cwd: work,
      timeoutMs: 600_000,
    });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const pkgDir = join(prefix, 'lib', 'node_modules', 'gitfailover');
    expect(existsSync(join(pkgDir, 'test'))).toBe(false);
    expect(existsSync(join(pkgDir, 'src'))).toBe(false);
    expect(existsSync(join(pkgDir, 'dist', 'bench'))).toBe(false);
    expect(statSync(join(pkgDir, 'bin', 'git-ssh.sh')).mode & 0o111).not.toBe(0);

    // The command as a user's shell finds it: on PATH, not through npx or the checkout.
    const env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH}` });
    const gf = (args: string[]) => run('gitfailover', args, { cwd: work, env });
    const version = await gf(['--version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(PKG.version);

    const init = await gf(['init', 'cfg']);
    expect(init.code, init.stderr).toBe(0);
    const wf = parse(readFileSync(join(work, 'cfg', '.github', 'workflows', 'config-check.yml'), 'utf8'));
    expect(JSON.stringify(wf)).toContain(`gitfailover@${PKG.version} validate`);
    const validate = await gf(['validate', 'cfg']);
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    expect(validate.stdout).toBe('cfg: no problems found\n');

    // record on a primary, sync on a standby, with the scaffolded config as production's live dir
    const remote = join(tmp, 'remote.git');
    await mustRun('git', ['init', '-q', '--bare', '--initial-branch=main', remote], { cwd: work });
    const prod = join(tmp, 'prod');
    const fail = join(tmp, 'fail');
    mkdirSync(fail);
    cpSync(join(work, 'cfg', 'domains'), join(prod, 'domains'), { recursive: true });
    cpSync(join(work, 'cfg', 'server.yaml'), join(prod, 'server.yaml'));
    writeFileSync(
      join(work, 'primary.yaml'),
      stringify({
        node: 'prod-1',
        role: 'primary',
        repo: { remote, stateDir: join(tmp, 'prod-state') },
        live: { dir: prod },
      }),
    );
    writeFileSync(
      join(work, 'standby.yaml'),
      stringify({
        node: 'failover-1',
        role: 'standby',
        repo: { remote, stateDir: join(tmp, 'fail-state') },
        live: { dir: fail },
        substitution: { ips: { '10.0.0.5': '10.1.0.5' } },
      }),
    );
    const record = await gf(['record', '-c', 'primary.yaml', '-m', 'initial import']);
    expect(record.code, record.stdout + record.stderr).toBe(0);
    const sync = await gf(['sync', '-c', 'standby.yaml']);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(readFileSync(join(fail, 'domains', 'acme', 'services.yaml'), 'utf8')).toContain('ip: 10.1.0.5');
    const head = (await mustRun('git', ['--git-dir', remote, 'rev-parse', 'main'], { cwd: work })).stdout.trim();
    const status = await gf(['status', '-c', 'standby.yaml', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ node: 'failover-1', appliedCommit: head });

    // The units name the command bare: systemd looks it up in /usr/local/sbin, /usr/local/bin,
    // /usr/sbin and /usr/bin, and the script's `#!/usr/bin/env node` in the same PATH.
    for (const unit of ['gitfailover.service']) {
      const text = readFileSync(join(pkgDir, 'templates', 'systemd', unit), 'utf8');
      const argv = /^ExecStart=(.*)$/m.exec(text)![1]!.split(/\s+/);
      expect(argv[0], unit).toBe('gitfailover');
      const found = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin']
        .map((d) => join(root, d, argv[0]!))
        .find((p) => existsSync(p));
      expect(found, `${unit}: ExecStart's ${argv[0]} is not where npm install -g puts it`).toBeDefined();
      // the unit's own arguments, with its node file swapped for one that does not exist here
      const missing = join(tmp, 'etc-gitfailover', 'gitfailover.yaml');
      const args = argv.slice(1).map((a) => (a === '/etc/gitfailover/gitfailover.yaml' ? missing : a));
      const started = await run(found!, args, {
        cwd: work,
        env: cleanEnv({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin' }),
      });
      expect(started.code, started.stderr).toBe(2); // a configuration error: the unit does not restart on it
      expect(started.stderr).toContain(missing);
    }

    const removed = await run('npm', ['uninstall', '-g', '--prefix', prefix, 'gitfailover'], { cwd: work });
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(join(prefix, 'bin', 'gitfailover'))).toBe(false);
    expect(existsSync(pkgDir)).toBe(false);
  }, 600_000);
});
