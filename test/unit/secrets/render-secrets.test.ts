import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../../src/config/load.js';
import { renderOptionsFor } from '../../../src/render/render-file.js';
import { encryptTo, formatIdentityFile, newIdentity } from '../../../src/secrets/age.js';
import { secretMarkOf } from '../../../src/secrets/marks.js';
import { openRenderedSecrets, SecretOpener } from '../../../src/secrets/render-secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'gf-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setup(textual: string[] = []) {
  const me = await newIdentity();
  const keyFile = join(dir, `${me.recipient.slice(-8)}.key`);
  writeFileSync(keyFile, formatIdentityFile(me.identity, me.recipient), { mode: 0o600 });
  const cfg = {
    node: 'failover-1',
    file: join(dir, 'node.yaml'),
    secrets: { files: [], identity: `file:${keyFile}`, textual },
  } as unknown as NodeConfig;
  const opts = renderOptionsFor({ ips: { '10.0.0.5': '10.1.0.5' }, files: [], vars: {} });
  return { me, opener: new SecretOpener(cfg, 'c0ffee'.padEnd(40, '0'), opts) };
}

describe('openRenderedSecrets', () => {
  it('x.age becomes x, marked 0600; removals follow; a domain without secrets keeps its Map', async () => {
    const { me, opener } = await setup(['tls/*.conf']);
    const plain = new Map([['domains/acme/domain.yaml', Buffer.from('name: acme\n')]]);
    const rendered = {
      globals: new Map([
        ['keys/host.key.age', await encryptTo(Buffer.from('host key 10.0.0.5\n'), [me.recipient])],
        ['tls/listen.conf.age', await encryptTo(Buffer.from('listen 10.0.0.5:990\n'), [me.recipient])],
      ]),
      domains: new Map([
        [
          'acme',
          new Map([
            ['tls/key.pem.age', await encryptTo(Buffer.from('domain key\n'), [me.recipient])],
            ['domain.yaml', Buffer.from('name: acme\n')],
          ]),
        ],
        ['beta', plain],
      ]),
    };
    const plan = { removeGlobal: ['keys/old.key.age', 'notes.txt'] };
    const secrets = await openRenderedSecrets(opener, rendered, plan, 'domains');
    expect([...rendered.globals.keys()].sort()).toEqual(['keys/host.key', 'tls/listen.conf']);
    // Not textual: byte for byte, no IP substitution. Textual: substituted.
    expect(rendered.globals.get('keys/host.key')!.toString()).toBe('host key 10.0.0.5\n');
    expect(rendered.globals.get('tls/listen.conf')!.toString()).toBe('listen 10.1.0.5:990\n');
    expect(secretMarkOf(rendered.globals.get('keys/host.key')!)?.mode).toBe(0o600);
    expect([...rendered.domains.get('acme')!.keys()]).toEqual(['tls/key.pem', 'domain.yaml']);
    expect(rendered.domains.get('beta')).toBe(plain);
    expect(plan.removeGlobal).toEqual(['keys/old.key', 'notes.txt']);
    expect([...secrets].sort()).toEqual([
      'domains/acme/tls/key.pem',
      'keys/host.key',
      'keys/old.key',
      'tls/listen.conf',
    ]);
  });

  it('a secret for someone else is refused naming the file and the fix', async () => {
    const { opener } = await setup();
    const other = await newIdentity();
    const rendered = {
      globals: new Map([['keys/host.key.age', await encryptTo(Buffer.from('x'), [other.recipient])]]),
      domains: new Map(),
    };
    const err = await openRenderedSecrets(opener, rendered, { removeGlobal: [] }, 'domains').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_SECRET_NOT_RECIPIENT', location: { file: 'keys/host.key.age' } });
    expect((err as Error).message).toContain('secrets add-recipient failover-1');
  });

  it('x.age beside a plain x is refused', async () => {
    const { me, opener } = await setup();
    const rendered = {
      globals: new Map([
        ['keys/a', Buffer.from('plain')],
        ['keys/a.age', await encryptTo(Buffer.from('x'), [me.recipient])],
      ]),
      domains: new Map(),
    };
    await expect(openRenderedSecrets(opener, rendered, { removeGlobal: [] }, 'domains')).rejects.toMatchObject({
      code: 'E_SECRET_CONFLICT',
    });
  });
});
