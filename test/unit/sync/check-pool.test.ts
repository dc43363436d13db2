import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderFile } from '../../../src/render/render-file.js';
import { CheckPool } from '../../../src/sync/check-pool.js';
import { renderOptionsFor } from '../../../src/render/render-file.js';
import { checkAndRender, type FileJob, type RenderSettings } from '../../../src/sync/check-render.js';
import { ROOT } from '../../helpers/fixture.js';

// The built worker (npm test builds first): the pool runs it on real worker threads.
const WORKER = pathToFileURL(join(ROOT, 'dist', 'sync', 'check-worker.js'));

const settings: RenderSettings = {
  substitution: { ips: { '10.0.0.5': '10.1.0.5' }, files: ['**/*.conf'], vars: { region: 'eu-2' } },
  file: 'standby.yaml',
  domainsDir: 'domains',
};

function jobs(): FileJob[] {
  const out: FileJob[] = [];
  for (let d = 0; d < 40; d++) {
    const dom = `domains/d${d}`;
    out.push({ path: `${dom}/domain.yaml`, content: Buffer.from(`name: d${d}\nenabled: true\n`), check: true });
    out.push({
      path: `${dom}/services.yaml`,
      content: Buffer.from(
        `services:\n  - name: sftp\n    protocol: sftp\n    ip: "10.0.0.${d % 7}"\n    port: ${2000 + d}\n`,
      ),
      check: d % 2 === 0,
    });
    out.push({
      path: `${dom}/users/u${d}.yaml`,
      content: Buffer.from(`name: u${d}\nhome: /data/u${d}\npasswordHash: "$2b$10$abcdefghijklmnopqrstuv"\n`),
      check: true,
    });
    out.push({ path: `${dom}/extra.conf`, content: Buffer.from(`listen 10.0.0.5 # {{ region }}\n`), check: false });
  }
  // Two bad files and one that cannot be rendered.
  out.push({
    path: 'domains/bad/services.yaml',
    content: Buffer.from(`services:\n  - name: ftp\n    protocol: ftp\n    ip: 10.0.0.5\n    port: 70000\n`),
    check: true,
  });
  out.push({ path: 'domains/bad/users/x.yaml', content: Buffer.from(`name: y\n`), check: true });
  out.push({ path: 'domains/bad/missing.conf', content: Buffer.from(`{{ nope }}\n`), check: false });
  return out;
}

describe('CheckPool: checking and rendering on worker threads', () => {
  it('gives the same verdicts as the sync thread, batch by batch and in order', async () => {
    expect(existsSync(WORKER), 'dist/sync/check-worker.js: run npm run build').toBe(true);
    const all = jobs();
    const opts = renderOptionsFor(settings.substitution, settings.file, settings.domainsDir);
    const expected = all.map((j) => checkAndRender(j, opts, 'domains'));
    const pool = new CheckPool(settings, 2, WORKER);
    try {
      expect(pool.threads).toBe(2);
      const batches = [all.slice(0, 50), all.slice(50, 110), all.slice(110)];
      const got = (await Promise.all(batches.map((b) => pool.run(b)))).flat();
      expect(got).toHaveLength(all.length);
      got.forEach((v, i) => {
        expect(v.problems).toEqual(expected[i]!.problems);
        expect(v.bindings).toEqual(expected[i]!.bindings);
        expect(v.renderError).toEqual(expected[i]!.renderError);
        // Rendered bytes come back as Buffers with the same content.
        expect(v.rendered === undefined ? undefined : Buffer.isBuffer(v.rendered) && v.rendered.toString()).toEqual(
          expected[i]!.rendered?.toString(),
        );
      });
    } finally {
      await pool.close();
    }
    // Rendering that reuses the check's parsed services.yaml gives the bytes a fresh parse gives.
    all.forEach((j, i) => {
      if (expected[i]!.problems.length === 0 && !expected[i]!.renderError)
        expect((expected[i]!.rendered ?? j.content).toString()).toBe(renderFile(j.path, j.content, opts).toString());
    });
    // What the test relies on: substitution, templates, problems and a render error all occurred.
    expect(expected.find((_v, i) => all[i]!.path === 'domains/d5/services.yaml')!.rendered!.toString()).toContain(
      '10.1.0.5',
    );
    expect(expected.find((_v, i) => all[i]!.path === 'domains/d0/services.yaml')!.bindings).toEqual([
      '10.0.0.0|2000|sftp',
    ]);
    expect(expected.find((_v, i) => all[i]!.path === 'domains/d3/extra.conf')!.rendered!.toString()).toBe(
      'listen 10.1.0.5 # eu-2\n',
    );
    expect(expected.filter((v) => v.problems.length > 0).map((v) => v.problems[0]!.code)).toEqual([
      'E_PORT_INVALID',
      'E_NAME_MISMATCH',
    ]);
    expect(expected.at(-1)!.renderError?.code).toBe('E_TEMPLATE_VAR');
  });

  it('runs in the calling thread when it has no workers', async () => {
    const pool = new CheckPool(settings, 0, WORKER);
    expect(pool.threads).toBe(0);
    const v = await pool.run(jobs().slice(-3));
    expect(v.map((x) => x.problems[0]?.code ?? x.renderError?.code)).toEqual([
      'E_PORT_INVALID',
      'E_NAME_MISMATCH',
      'E_TEMPLATE_VAR',
    ]);
    await pool.close();
  });
});
