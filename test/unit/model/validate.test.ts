import { describe, expect, it } from 'vitest';
import { looksLikeHashOrReference, isPasswordKey, validateTree } from '../../../src/model/validate.js';
import type { TreeEntry, TreeSource } from '../../../src/model/tree-source.js';

/** An in-memory tree, as a git tree source would present it: paths may be anything git allows. */
function memTree(files: Record<string, string>, extra: TreeEntry[] = []): TreeSource {
  const entries: TreeEntry[] = Object.entries(files).map(([path, text]) => ({
    path,
    type: 'file',
    size: Buffer.byteLength(text),
    mode: 0o100644,
  }));
  return {
    list: async () => [...entries, ...extra].sort((a, b) => (a.path < b.path ? -1 : 1)),
    read: async (path) => {
      if (!(path in files)) throw new Error(`no ${path}`);
      return Buffer.from(files[path]!);
    },
  };
}

const svc = (rows: string[]) => `services:\n${rows.map((r) => `  - ${r}\n`).join('')}`;
const good = {
  'server.yaml': 'logLevel: info\n',
  'domains/acme/domain.yaml': 'name: acme\n',
  'domains/acme/services.yaml': svc([
    '{name: sftp, protocol: sftp, ip: 10.0.0.5, port: 22}',
    '{name: ftps, protocol: ftps, ip: "2001:db8::5", port: 990}',
  ]),
  'domains/acme/users/alice.yaml': 'passwordHash: "$2b$12$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy"\n',
};

const codes = async (tree: TreeSource, opts = {}) =>
  (await validateTree(tree, opts)).map((p) => [p.code, p.file, p.line]);

describe('validateTree', () => {
  it('passes a clean tree', async () => {
    expect(await validateTree(memTree(good))).toEqual([]);
  });

  it('finds a duplicate ip:port across domains, comparing addresses, naming the first', async () => {
    const problems = await validateTree(
      memTree({
        ...good,
        'domains/beta/services.yaml': svc([
          '{name: other, protocol: ftp, ip: 10.0.0.6, port: 21}',
          '{name: dup6, protocol: https, ip: "2001:DB8:0:0::5", port: 990}',
        ]),
        'domains/zeta/services.yaml': svc(['{name: dup4, protocol: sftp, ip: "::ffff:10.0.0.5", port: 22}']),
      }),
    );
    expect(problems.map((p) => [p.code, p.file, p.line, p.col])).toEqual([
      // the column of the ip value inside the flow mapping
      ['E_DUPLICATE_BINDING', 'domains/beta/services.yaml', 3, 39],
      ['E_DUPLICATE_BINDING', 'domains/zeta/services.yaml', 2, 38],
    ]);
    expect(problems[0]!.message).toContain('ftps');
    expect(problems[0]!.message).toContain('domains/acme/services.yaml:3');
  });

  it('sees a wildcard address overlap every address of its family on that port', async () => {
    const tree = memTree({
      ...good,
      'domains/beta/services.yaml': svc([
        '{name: any, protocol: sftp, ip: 0.0.0.0, port: 22}',
        '{name: any6, protocol: sftp, ip: "::", port: 2022}',
      ]),
    });
    expect(await codes(tree)).toEqual([['E_DUPLICATE_BINDING', 'domains/beta/services.yaml', 2]]);
  });

  it('names the earliest overlapping binding, as a scan of every earlier binding would (random trees)', async () => {
    // checkBindings looks overlaps up in three maps; this is the plain rule it must agree with.
    const ips = ['10.0.0.5', '10.0.0.6', '0.0.0.0', '::', '2001:db8::5', '2001:DB8:0::5', '::ffff:10.0.0.5'];
    const norm = (ip: string) =>
      ip.toLowerCase().replace('2001:db8:0::5', '2001:db8::5').replace('::ffff:10.0.0.5', '10.0.0.5');
    const family = (ip: string) => (norm(ip).includes(':') ? 6 : 4);
    const wildcard = (ip: string) => ip === '0.0.0.0' || ip === '::';
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 30; round++) {
      const files: Record<string, string> = { 'server.yaml': 'logLevel: info\n' };
      const seen: { ip: string; port: number; name: string; file: string }[] = [];
      const expected: string[] = [];
      for (let d = 0; d < 6; d++) {
        const rows: string[] = [];
        const file = `domains/d${d}/services.yaml`;
        for (let i = 0; i < 1 + rand(3); i++) {
          const ip = ips[rand(ips.length)]!;
          const port = [21, 22][rand(2)]!;
          const name = `s${d}x${i}`;
          rows.push(`{name: ${name}, protocol: sftp, ip: "${ip}", port: ${port}}`);
          const first = seen.find(
            (a) =>
              a.port === port &&
              (norm(a.ip) === norm(ip) || (family(a.ip) === family(ip) && (wildcard(a.ip) || wildcard(ip)))),
          );
          if (first) expected.push(`${file} ${name} -> ${first.file} ${first.name}`);
          seen.push({ ip, port, name, file });
        }
        files[file] = svc(rows);
      }
      const got = (await validateTree(memTree(files)))
        .filter((p) => p.code === 'E_DUPLICATE_BINDING')
        .map((p) => {
          const m = /of service (\S+) .* of service (\S+) \(([^:]+):/.exec(p.message)!;
          return `${p.file} ${m[1]} -> ${m[3]} ${m[2]}`;
        });
      expect(got.sort()).toEqual(expected.sort());
    }
  });

  it('reports invalid IPs and ports with their lines', async () => {
    const tree = memTree({
      ...good,
      'domains/acme/services.yaml': 'services:\n  - name: a\n    protocol: sftp\n    ip: 10.0.0.256\n    port: 70000\n',
    });
    expect(await codes(tree)).toEqual([
      ['E_IP_INVALID', 'domains/acme/services.yaml', 4],
      ['E_PORT_INVALID', 'domains/acme/services.yaml', 5],
    ]);
  });

  it('refuses unsafe domain names, including a folder named .. in a git tree', async () => {
    const tree = memTree({
      ...good,
      'domains/../domain.yaml': 'enabled: true\n',
      'domains/a..b/domain.yaml': 'enabled: true\n',
      'domains/ bad name/domain.yaml': 'enabled: true\n',
      'domains/nul\0x/domain.yaml': 'enabled: true\n',
    });
    const problems = await validateTree(tree);
    const unsafe = problems.filter((p) => p.code === 'E_UNSAFE_NAME').map((p) => p.file);
    expect(unsafe.sort()).toEqual(['domains/ bad name', 'domains/a..b'].sort());
    // ".." and a NUL make a segment unusable anywhere: one code for that fault, wherever it is.
    expect(
      problems
        .filter((p) => p.code === 'E_UNSAFE_PATH')
        .map((p) => p.file)
        .sort(),
    ).toEqual(['domains/..', 'domains/nul\\x00x']);
    expect(problems.every((p) => !p.file.includes('\0'))).toBe(true);
  });

  it('refuses unsafe user names and path segments', async () => {
    const tree = memTree({
      ...good,
      'domains/acme/users/-x.yaml': 'home: /x\n',
      'domains/acme/users/a..b.yaml': 'home: /x\n',
      'docs/../../etc/passwd': 'x',
    });
    expect((await codes(tree)).filter(([c]) => c !== 'E_SCHEMA')).toEqual([
      ['E_UNSAFE_PATH', 'docs/..', 1],
      ['E_UNSAFE_NAME', 'domains/acme/users/-x.yaml', 1],
      ['E_UNSAFE_NAME', 'domains/acme/users/a..b.yaml', 1],
    ]);
  });

  it('refuses symlinks, submodules and oversized files without reading them', async () => {
    const tree = memTree(good, [
      { path: 'domains/acme/link', type: 'symlink', size: 11, mode: 0o120000 },
      { path: 'vendor/lib', type: 'submodule', size: 0, mode: 0o160000 },
      { path: 'domains/acme/big.bin', type: 'file', size: 2 * 1024 * 1024, mode: 0o100644 },
    ]);
    expect(await codes(tree)).toEqual([
      ['E_FILE_TOO_LARGE', 'domains/acme/big.bin', 1],
      ['E_SYMLINK', 'domains/acme/link', 1],
      ['E_SUBMODULE', 'vendor/lib', 1],
    ]);
    expect(await codes(memTree({ ...good, 'notes.txt': 'x'.repeat(200) }), { maxFileSize: 180 })).toEqual([
      ['E_FILE_TOO_LARGE', 'notes.txt', 1],
    ]);
  });

  it('skips .gitfailover metadata', async () => {
    const tree = memTree({ ...good, '.gitfailover/primary.yaml': ': : bad' }, [
      { path: '.gitfailover/link', type: 'symlink', size: 1, mode: 0o120000 },
    ]);
    expect(await validateTree(tree)).toEqual([]);
  });

  it('finds plaintext passwords, wherever they are, and accepts hashes and references', async () => {
    const tree = memTree({
      ...good,
      'server.yaml': 'smtp:\n  host: mx\n  password: hunter2\n  passwordPolicy: strong\nrelay:\n  secret: env:RELAY\n',
      'domains/acme/users/bob.yaml': 'home: /b\npasswordHash: plain-text\n',
      'domains/acme/users/carol.yaml': 'passwordHash: "{SSHA}abcdef"\n',
      'domains/acme/users/dave.yaml': 'passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"\n',
      'domains/acme/users/erin.yaml': 'passwordHash: "$6$salt$hash"\nkeys:\n  - {pass: "x1"}\n',
    });
    expect(await codes(tree)).toEqual([
      ['E_PLAINTEXT_PASSWORD', 'domains/acme/users/bob.yaml', 2],
      ['E_PLAINTEXT_PASSWORD', 'domains/acme/users/erin.yaml', 3],
      ['E_PLAINTEXT_PASSWORD', 'server.yaml', 3],
    ]);
  });

  it('with a node file, finds service IPs its substitution does not cover', async () => {
    const node = {
      file: '/etc/gf.yaml',
      substitution: { ips: { '10.0.0.5': '10.1.0.5', '2001:db8:0::5': '2001:db8:1::5' } },
    };
    expect(await validateTree(memTree(good), { node })).toEqual([]);
    const tree = memTree({
      ...good,
      'domains/beta/services.yaml': svc([
        '{name: x, protocol: ftp, ip: 10.0.0.9, port: 21}',
        '{name: lo, protocol: ftp, ip: 127.0.0.1, port: 21}',
        '{name: any, protocol: ftp, ip: 0.0.0.0, port: 2121}',
      ]),
    });
    const problems = await validateTree(tree, { node });
    expect(problems.map((p) => [p.code, p.file, p.line])).toEqual([
      ['E_IP_NOT_SUBSTITUTED', 'domains/beta/services.yaml', 2],
    ]);
    expect(problems[0]!.message).toContain('/etc/gf.yaml');
  });

  it('reports files that are not UTF-8', async () => {
    const tree: TreeSource = {
      list: async () => [{ path: 'server.yaml', type: 'file', size: 2, mode: 0o100644 }],
      read: async () => Buffer.from([0xff, 0xfe]),
    };
    expect(await codes(tree)).toEqual([['E_NOT_UTF8', 'server.yaml', 1]]);
  });

  it('uses the domains dir given', async () => {
    const tree = memTree({
      'tenants/a..b/domain.yaml': 'enabled: true\n',
      'domains/a..b/x': 'fine: it is not a domain here',
    });
    expect(await codes(tree, { domainsDir: 'tenants' })).toEqual([['E_UNSAFE_NAME', 'tenants/a..b', 1]]);
  });
});

describe('password heuristics', () => {
  it('knows password keys by their last word', () => {
    for (const k of [
      'password',
      'passwd',
      'pass',
      'pwd',
      'secret',
      'clientSecret',
      'smtp_password',
      'passwordHash',
      'password_hash',
    ])
      expect(isPasswordKey(k), k).toBe(true);
    for (const k of ['passwordPolicy', 'passive', 'passivePorts', 'hash', 'secretName', 'bypass'])
      expect(isPasswordKey(k), k).toBe(false);
  });

  it('knows hash formats and references', () => {
    for (const v of [
      '$2b$12$abc',
      '$2y$10$x',
      '$6$salt$h',
      '$5$s$h',
      '$1$s$h',
      '$y$j9T$s$h',
      '$argon2id$v=19$x',
      '{SSHA}abc',
      '{ssha512}x',
      '{CRYPT}$6$x',
      'pbkdf2_sha256$1$s$h',
      '!',
      '*',
      '!$6$s$h',
      'env:X',
      'file:/run/x',
    ])
      expect(looksLikeHashOrReference(v), v).toBe(true);
    for (const v of ['hunter2', 'correct horse', '$notahash', 'env:', '{SSHA'])
      expect(looksLikeHashOrReference(v), v).toBe(false);
  });
});
