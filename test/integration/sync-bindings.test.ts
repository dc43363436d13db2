import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliOk, git, snapshot, usePairs, writeDomain, writeUser, type Pair } from '../helpers/fixture.js';

/**
 * The applied bindings live in their own file in the state dir, named by state.json: written only
 * when a binding changed, read only by a partial sync, and moved out of an old state.json.
 */
const pair = usePairs();

const stateDir = (p: Pair) => join(p.dir, 'fail-state');
const readState = (p: Pair) =>
  JSON.parse(readFileSync(join(stateDir(p), 'state.json'), 'utf8')) as Record<string, unknown> & {
    bindingsFile?: string;
    bindings?: Record<string, string[]>;
    appliedCommit?: string;
  };
const bindingsFiles = (p: Pair) => readdirSync(stateDir(p)).filter((f) => f.startsWith('bindings'));
const storedBindings = (p: Pair) =>
  JSON.parse(readFileSync(join(stateDir(p), readState(p).bindingsFile!), 'utf8')) as Record<string, string[]>;

async function syncedPair(): Promise<Pair> {
  const p = await pair();
  writeDomain(p.prodLive, 'acme', {
    services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
    users: ['alice'],
  });
  writeDomain(p.prodLive, 'beta', {
    services: [{ name: 's', protocol: 'ftp', ip: '10.0.0.5', port: 21 }],
    users: ['bob'],
  });
  await cliOk(['record', '-c', p.primary]);
  await cliOk(['sync', '-c', p.standby]);
  return p;
}

/**
 * A commit with a duplicate binding, pushed past the primary (which refuses to record one) by a
 * person with push rights: a clone, a commit, a push.
 */
async function pushPast(p: Pair, domain: string, spec: Parameters<typeof writeDomain>[2]): Promise<void> {
  const work = join(p.dir, `clone-${domain}`);
  rmSync(work, { recursive: true, force: true });
  await git(['clone', '-q', p.remote, work]);
  writeDomain(work, domain, spec);
  await git(['-C', work, 'add', '-A']);
  await git(['-C', work, 'commit', '-q', '-m', `add ${domain}`]);
  await git(['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
}

/**
 * What older gitfailovers left in a state dir: the bindings (before the bindings file) and the
 * manifest (before the shards) inside state.json, the unmapped map, and a bindings file no state names.
 */
function makeStateOld(p: Pair): { bindings: Record<string, string[]>; manifest: Record<string, string> } {
  const state = readState(p);
  const bindings = storedBindings(p);
  const manifest: Record<string, string> = {};
  const shards = join(stateDir(p), 'manifest');
  for (const f of readdirSync(join(shards, 'domains')))
    Object.assign(manifest, JSON.parse(readFileSync(join(shards, 'domains', f), 'utf8')));
  Object.assign(manifest, JSON.parse(readFileSync(join(shards, 'globals.json'), 'utf8')));
  rmSync(shards, { recursive: true });
  rmSync(join(stateDir(p), state.bindingsFile!));
  delete state.bindingsFile;
  const old = { ...state, bindings, manifest, unmapped: { acme: ['10.0.0.9:22'] } };
  writeFileSync(join(stateDir(p), 'state.json'), JSON.stringify(old, null, 2));
  writeFileSync(join(stateDir(p), 'bindings-0-dead-0.json'), '{}');
  return { bindings, manifest };
}

describe('bindings file', () => {
  it('keeps the bindings out of state.json, and a user change leaves the file as it is while a new port rewrites it', async () => {
    const p = await syncedPair();
    const state = readState(p);
    expect(state.bindings).toBeUndefined();
    expect(storedBindings(p)).toEqual({ acme: ['10.1.0.5:22'], beta: ['10.1.0.5:21'] });
    const first = state.bindingsFile!;

    writeUser(p.prodLive, 'acme', 'carol');
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    expect(readState(p).bindingsFile).toBe(first);

    writeDomain(p.prodLive, 'beta', {
      services: [{ name: 's', protocol: 'ftp', ip: '10.0.0.5', port: 2121 }],
      users: ['bob'],
    });
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    expect(readState(p).bindingsFile).not.toBe(first);
    expect(storedBindings(p)).toEqual({ acme: ['10.1.0.5:22'], beta: ['10.1.0.5:2121'] });
    // the superseded file goes at the next sync (under the sync lock)
    await cliOk(['sync', '-c', p.standby]);
    expect(bindingsFiles(p)).toEqual([readState(p).bindingsFile]);
  });

  it('a new domain binding what a domain left as it is binds is refused (E_DUPLICATE_BINDING), read from the bindings file', async () => {
    const p = await syncedPair();
    const before = snapshot(p.failLive);
    await pushPast(p, 'gamma', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['gina'],
    });
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(readState(p).lastSync).toMatchObject({
      success: false,
      errorCode: 'E_DUPLICATE_BINDING',
      errorFile: 'domains/gamma/services.yaml',
    });
    expect(r.stderr).toContain('acme already binds');
    expect(snapshot(p.failLive)).toEqual(before);
  });

  it('moving a binding from one domain to another in one commit is allowed (the old owner is replaced too)', async () => {
    const p = await syncedPair();
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 2222 }],
      users: ['alice'],
    });
    writeDomain(p.prodLive, 'beta', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['bob'],
    });
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    expect(storedBindings(p)).toEqual({ acme: ['10.1.0.5:2222'], beta: ['10.1.0.5:22'] });
  });

  it('an old-layout state dir is migrated once by the next command: a real sync then applies, the drift check reads the moved manifest, the moved bindings refuse a duplicate', async () => {
    const p = await syncedPair();
    const old = makeStateOld(p);

    writeUser(p.prodLive, 'beta', 'dora');
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    const state = readState(p);
    expect(state.bindings).toBeUndefined();
    expect(state).not.toHaveProperty('manifest');
    expect(state).not.toHaveProperty('unmapped');
    expect(state.appliedCommit).toBe((await git(['-C', p.remote, 'rev-parse', 'main'])).trim());
    expect(storedBindings(p)).toEqual(old.bindings);
    expect(bindingsFiles(p)).toEqual([state.bindingsFile]);
    expect(existsSync(join(p.failLive, 'domains/beta/users/dora.yaml'))).toBe(true);
    // The manifest moved into shards: the untouched domain's shard is the old entries, and no drift.
    const acme = JSON.parse(readFileSync(join(stateDir(p), 'manifest/domains/acme.json'), 'utf8'));
    for (const [k, v] of Object.entries(acme)) expect(old.manifest[k]).toBe(v);
    const status = JSON.parse((await cliOk(['status', '-c', p.standby, '--json', '--no-fetch'])).stdout);
    expect(status.drift).toEqual({ changed: [], missing: [], extra: [] });

    // the migrated bindings still refuse a duplicate
    await pushPast(p, 'gamma', { services: [{ name: 's', protocol: 'ftp', ip: '10.0.0.5', port: 21 }] });
    expect((await cli(['sync', '-c', p.standby])).code).toBe(1);
    expect(readState(p).lastSync).toMatchObject({
      errorCode: 'E_DUPLICATE_BINDING',
      errorFile: 'domains/gamma/services.yaml',
    });
  });

  it('a bindings file state.json names but that is gone refuses a partial sync and says to run a full one, which writes it again', async () => {
    const p = await syncedPair();
    rmSync(join(stateDir(p), readState(p).bindingsFile!));
    writeUser(p.prodLive, 'acme', 'erin');
    await cliOk(['record', '-c', p.primary]);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gitfailover sync --full');
    expect(readState(p).lastSync).toMatchObject({ errorCode: 'E_STATE_BINDINGS' });
    await cliOk(['sync', '-c', p.standby, '--full']);
    expect(storedBindings(p)).toEqual({ acme: ['10.1.0.5:22'], beta: ['10.1.0.5:21'] });
    expect(existsSync(join(p.failLive, 'domains/acme/users/erin.yaml'))).toBe(true);
  });
});
