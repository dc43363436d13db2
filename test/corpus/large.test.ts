import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { removeDir } from '../helpers/fixture.js';
import { expectRefused, files, setupCorpus, type CraftFile, type Corpus } from './setup.js';

/** The corpus cases that are big: their own file, so vitest runs them beside the small ones. */
let c: Corpus;
beforeAll(async () => {
  c = await setupCorpus();
}, 60_000);
afterAll(() => removeDir(c.pair.dir));

describe('corpus: size', () => {
  it('a file of 100 MB: refused, and not kept uncompressed in the standby clone', async () => {
    const content = Buffer.alloc(100 * 1024 * 1024, 'x');
    await expectRefused(c, [{ path: ['domains', 'acme', 'dump.sql'], content }], {
      names: 'domains/acme/dump.sql',
      code: 'E_FILE_TOO_LARGE',
    });
    // Fetched as a loose object stored as it is (core.looseCompression=0), the refusal packs it:
    // no 100 MB loose object stays, and the clone's objects (deflated) are far below 100 MB.
    const oid = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
    const objects = join(c.cfg.repo.stateDir, 'repo.git', 'objects');
    expect(existsSync(join(objects, oid.slice(0, 2), oid.slice(2))), 'no loose copy of the refused blob').toBe(false);
    const kb = Number(execFileSync('du', ['-sk', objects]).toString().split('\t')[0]);
    expect(kb).toBeLessThan(10 * 1024);
  }, 60_000);

  it('a huge commit of 10,000 new domains, one of them with a port out of range: refused whole', async () => {
    const domainYaml = 'enabled: true\n';
    const added: CraftFile[] = [];
    for (let i = 0; i < 10_000; i++) {
      const name = `bulk${String(i).padStart(5, '0')}`;
      added.push({ path: ['domains', name, 'domain.yaml'], content: domainYaml });
      added.push({ path: ['domains', name, 'services.yaml'], content: stringify({ services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.7', port: i === 9_999 ? 70_000 : 10_000 + i }] }) });
    }
    await expectRefused(c, added, { names: 'domains/bulk09999/services.yaml', code: 'E_PORT_INVALID' });
  }, 240_000);

  it('a huge commit of 10,000 new domains binding one address and port', async () => {
    const added: CraftFile[] = files({});
    for (let i = 0; i < 10_000; i++) {
      const name = `same${String(i).padStart(5, '0')}`;
      added.push({ path: ['domains', name, 'services.yaml'], content: stringify({ services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.9', port: 2222 }] }) });
    }
    await expectRefused(c, added, { names: /domains\/same\d+\/services\.yaml/, code: 'E_DUPLICATE_BINDING', partialOnly: true });
  }, 240_000);
});
