import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { RULES, type Gate } from '../../src/model/admit.js';
import { BASE, expectRefused, setupCorpus, type CraftFile, type Corpus } from '../corpus/setup.js';
import { cli, git, initRemote, makePair, removeDir, tempDir, type Pair } from '../helpers/fixture.js';

/**
 * One table drives the three gates: for every rule code of admit.ts (enumerated from the module,
 * so a new rule without a case fails here), the same input is refused with the same code by
 * `validate` (CLI, a checkout), by `record` (CLI, the primary's live dir: exit 1, nothing pushed,
 * nothing staged in the private index) and by `sync` (a commit written straight into the remote:
 * refused, the standby's live dir byte-identical; test/corpus's expectRefused).
 */

/** One entry of a case: written to a folder (validate, record) and crafted into a commit (sync). */
interface Item {
  path: string;
  content?: string | Buffer;
  kind?: 'file' | 'symlink' | 'exec' | 'repo';
}

interface Case {
  items: Item[];
  /** What the error names. */
  names: string;
  /** Paths of BASE the commit leaves out (the crafted sync case). */
  remove?: string[];
  /** A commit only a crafted tree can make (duplicate entries): the sync case's own tree. */
  crafted?: (c: Corpus) => CraftFile[];
}

const svc = (over: Record<string, unknown> = {}) => ({
  name: 'sftp',
  protocol: 'sftp',
  ip: '10.0.0.5',
  port: 22,
  ...over,
});
const services = (list: unknown[]) => stringify({ services: list });
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const MAX_FILES = 50;

const CASES: Record<string, Case> = {
  E_UNSAFE_PATH: {
    items: [{ path: 'native/x\u001b[2J\u001b[31mOWNED\u001b[0m.conf', content: 'x\n' }],
    names: 'native/x\\x1b[2J',
  },
  E_NAME_TOO_LONG: { items: [{ path: `native/${'n'.repeat(300)}.conf`, content: 'x\n' }], names: 'n'.repeat(100) },
  E_UNSAFE_NAME: {
    items: [{ path: 'domains/acme/users/john+ftp.yaml', content: 'home: /data/john\n' }],
    names: 'domains/acme/users/john+ftp.yaml',
  },
  E_GIT_CONTROL_FILE: { items: [{ path: '.gitattributes', content: '* filter=pwn\n' }], names: '.gitattributes' },
  E_SYMLINK: {
    items: [{ path: 'domains/acme/shadow.conf', content: '/etc/shadow', kind: 'symlink' }],
    names: 'domains/acme/shadow.conf',
  },
  E_SUBMODULE: { items: [{ path: 'native/vendor', kind: 'repo' }], names: 'native/vendor' },
  E_EXECUTABLE: {
    items: [{ path: 'native/hook.sh', content: '#!/bin/sh\nexit 0\n', kind: 'exec' }],
    names: 'native/hook.sh',
  },
  E_FILE_TOO_LARGE: {
    items: [{ path: 'native/big.log', content: Buffer.alloc(1024 * 1024 + 1, 'a') }],
    names: 'native/big.log',
  },
  E_TOO_MANY_FILES: {
    items: Array.from({ length: MAX_FILES }, (_, i) => ({ path: `native/many/f${i}.conf`, content: `${i}\n` })),
    names: `over repo.maxFiles (${MAX_FILES})`,
  },
  E_DUPLICATE_ENTRY: {
    items: [],
    names: 'native/mft.conf',
    remove: ['native/mft.conf'],
    crafted: (c) => {
      const native = c.crafter.tree([
        { mode: '100644', name: 'mft.conf', oid: c.crafter.blob('listen 10.0.0.5\n') },
        { mode: '100644', name: 'mft.conf', oid: c.crafter.blob('listen 0.0.0.0\n') },
      ]);
      return [{ path: ['native'], mode: '40000', oid: native }];
    },
  },
  E_TYPE_CLASH: {
    items: [{ path: 'domains/notes.txt', content: 'a file where only domain folders belong\n' }],
    names: 'domains/notes.txt',
  },
  E_NOT_UTF8: {
    items: [
      { path: 'domains/acme/users/alice.yaml', content: Buffer.from('name: alice\nhome: /data/\xff\n', 'latin1') },
    ],
    names: 'domains/acme/users/alice.yaml',
  },
  E_YAML: {
    items: [{ path: 'domains/acme/domain.yaml', content: 'name: acme\nenabled: [true\n' }],
    names: 'domains/acme/domain.yaml',
  },
  E_SCHEMA: {
    items: [{ path: 'domains/acme/domain.yaml', content: 'name: acme\nenabled: "yes please"\n' }],
    names: 'domains/acme/domain.yaml',
  },
  E_IP_INVALID: {
    items: [{ path: 'domains/acme/services.yaml', content: services([svc({ ip: '10.0.0.256' })]) }],
    names: 'domains/acme/services.yaml',
  },
  E_PORT_INVALID: {
    items: [{ path: 'domains/acme/services.yaml', content: services([svc({ port: 0 })]) }],
    names: 'domains/acme/services.yaml',
  },
  E_NAME_MISMATCH: {
    items: [{ path: 'domains/acme/domain.yaml', content: 'name: beta\n' }],
    names: 'domains/acme/domain.yaml',
  },
  E_SERVICE_DUPLICATE: {
    items: [{ path: 'domains/acme/services.yaml', content: services([svc(), svc({ port: 2222 })]) }],
    names: 'domains/acme/services.yaml',
  },
  E_TRIGGERS: {
    items: [{ path: 'domains/acme/triggers.yaml', content: 'triggers: 5\n' }],
    names: 'domains/acme/triggers.yaml',
  },
  E_IP_NOT_REWRITABLE: {
    items: [
      {
        path: 'domains/acme/services.yaml',
        content: 'services:\n  - name: sftp\n    protocol: sftp\n    ip: >-\n      10.0.0.5\n    port: 22\n',
      },
    ],
    names: 'domains/acme/services.yaml',
  },
  E_DUPLICATE_BINDING: {
    items: [{ path: 'domains/beta/services.yaml', content: services([svc({ name: 'any', ip: '0.0.0.0' })]) }],
    names: 'domains/beta/services.yaml',
  },
  E_PLAINTEXT_PASSWORD: {
    items: [
      { path: 'domains/acme/users/alice.yaml', content: 'name: alice\npassword: hunter2hunter2\nhome: /data/alice\n' },
    ],
    names: 'domains/acme/users/alice.yaml',
  },
  E_SECRET_IN_FILE: {
    items: [{ path: 'domains/acme/keys/host_key', content: KEY }],
    names: 'domains/acme/keys/host_key',
  },
};

function writeItems(dir: string, items: Item[]): void {
  for (const it of items) {
    const p = join(dir, it.path);
    mkdirSync(dirname(p), { recursive: true });
    if (it.kind === 'symlink') symlinkSync(String(it.content), p);
    else if (it.kind === 'repo') execFileSync('git', ['init', '-q', p]);
    else {
      writeFileSync(p, it.content ?? '');
      if (it.kind === 'exec') chmodSync(p, 0o755);
    }
  }
}

/** Put `dir` back as BASE had it: each item's path restored or removed. */
function undoItems(dir: string, items: Item[]): void {
  for (const it of items) {
    const p = join(dir, it.path);
    rmSync(p, { recursive: true, force: true });
    if (BASE[it.path] !== undefined) writeFileSync(p, BASE[it.path]!);
  }
  rmSync(join(dir, 'native/many'), { recursive: true, force: true });
}

function craftOf(items: Item[]): CraftFile[] {
  return items.map((it) => ({
    path: it.path.split('/'),
    mode: it.kind === 'symlink' ? '120000' : it.kind === 'exec' ? '100755' : it.kind === 'repo' ? '160000' : undefined,
    ...(it.kind === 'repo' ? { oid: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' } : { content: it.content ?? '' }),
  }));
}

const arises = (code: string, gate: Gate) => RULES.find((r) => r.code === code)!.cannotArise?.[gate] === undefined;

describe('every rule has a case', () => {
  it('the table covers every code of admit.ts', () => {
    expect(RULES.map((r) => r.code).filter((code) => !CASES[code])).toEqual([]);
  });
});

describe('gate: validate (CLI, a checkout)', () => {
  for (const rule of RULES) {
    it.skipIf(!arises(rule.code, 'validate'))(rule.code, async () => {
      const c = CASES[rule.code]!;
      const dir = tempDir('gf-admit-');
      try {
        writeItems(
          dir,
          Object.entries(BASE).map(([path, content]) => ({ path, content })),
        );
        writeItems(dir, c.items);
        const r = await cli(['validate', dir, '--format', 'json', '--max-files', String(MAX_FILES)]);
        expect(r.code, r.stderr).toBe(1);
        const out = JSON.parse(r.stdout) as { problems: { code: string; file: string; message: string }[] };
        const hit = out.problems.find((p) => p.code === rule.code);
        expect(hit, JSON.stringify(out.problems)).toBeDefined();
        expect(`${hit!.file} ${hit!.message}`).toContain(c.names);
      } finally {
        removeDir(dir);
      }
    });
  }
});

describe('gate: record (CLI, the primary live dir)', () => {
  let p: Pair;
  let head: string;
  const stateDir = () => join(p.dir, 'prod-state');
  const staged = () =>
    execFileSync('git', ['--git-dir', join(stateDir(), 'repo.git'), 'ls-files', '-s'], {
      env: { ...process.env, GIT_INDEX_FILE: join(stateDir(), 'index') },
    }).toString();
  beforeAll(async () => {
    p = makePair();
    writeFileSync(p.primary, readFileSync(p.primary, 'utf8').replace(/repo:\n/, `repo:\n  maxFiles: ${MAX_FILES}\n`));
    await initRemote(p);
    writeItems(
      p.prodLive,
      Object.entries(BASE).map(([path, content]) => ({ path, content })),
    );
    const r = await cli(['record', '-c', p.primary]);
    expect(r.code, r.stderr).toBe(0);
    head = await git(['rev-parse', 'main'], p.remote);
  }, 60_000);
  afterAll(() => removeDir(p.dir));

  for (const rule of RULES) {
    it.skipIf(!arises(rule.code, 'record'))(rule.code, async () => {
      const c = CASES[rule.code]!;
      const before = staged();
      writeItems(p.prodLive, c.items);
      try {
        const r = await cli(['record', '-c', p.primary]);
        if (rule.code === 'E_FILE_TOO_LARGE') {
          // Data, not configuration: left out with a warning, never stored, never pushed.
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout + r.stderr).toContain(c.names);
          expect(r.stdout + r.stderr).toContain('over repo.maxFileSize');
          const big = execFileSync('git', ['hash-object', join(p.prodLive, 'native/big.log')])
            .toString()
            .trim();
          expect(
            existsSync(join(stateDir(), 'repo.git', 'objects', big.slice(0, 2), big.slice(2))),
            'the large file was never hashed into the object store',
          ).toBe(false);
        } else {
          expect(r.code, r.stdout + r.stderr).toBe(1);
          expect(r.stderr).toContain(`[${rule.code}]`);
          expect(r.stderr).toContain(c.names);
        }
        expect(await git(['rev-parse', 'main'], p.remote), 'nothing pushed').toBe(head);
        expect(staged(), 'nothing staged in the private index').toBe(before);
      } finally {
        undoItems(p.prodLive, c.items);
      }
    });
  }
});

describe('gate: sync (a commit pushed straight to the remote)', () => {
  let c: Corpus;
  beforeAll(async () => {
    c = await setupCorpus();
    c.cfg.repo.maxFiles = MAX_FILES;
  }, 60_000);
  afterAll(() => removeDir(c.pair.dir));

  for (const rule of RULES) {
    it.skipIf(!arises(rule.code, 'sync'))(rule.code, async () => {
      const k = CASES[rule.code]!;
      await expectRefused(
        c,
        k.crafted ? k.crafted(c) : craftOf(k.items),
        { names: k.names, code: rule.code },
        k.remove,
      );
    });
  }
});
