import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeUnmappedService, unmappedBindings } from '../../../src/model/admit.js';
import { bindingOf, checkAndRender, parseBinding } from '../../../src/sync/check-render.js';
import { renderOptionsFor } from '../../../src/render/render-file.js';
import { CheckedBlobs } from '../../../src/sync/checked-blobs.js';
import { removeDir, tempDir } from '../../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('the service name travels with a binding to the substitution.unmapped event', () => {
  it('survives the check, the known-good list on disk and its separators; a v1 list (no names) is not trusted', () => {
    const name = 'sftp,main|eu\tx\ny';
    const services = `services:\n  - name: ${JSON.stringify(name)}\n    protocol: sftp\n    ip: 10.0.0.6\n    port: 22\n  - name: ftp\n    protocol: ftp\n    ip: "2001:db8::6"\n    port: 21\n`;
    const opts = renderOptionsFor({ ips: { '10.0.0.5': '10.1.0.5' }, files: [], vars: {} }, undefined, 'domains');
    const v = checkAndRender(
      { path: 'domains/newco/services.yaml', content: Buffer.from(services), check: true },
      opts,
      'domains',
    );
    expect(v.problems).toEqual([]);
    expect(v.bindings).toEqual([bindingOf({ ip: '10.0.0.6', port: 22, name }), '2001:db8::6|21|ftp']);

    const dir = tempDir('gf-checked-');
    dirs.push(dir);
    const oid = 'a'.repeat(40);
    const list = new CheckedBlobs(dir, 'domains');
    list.add(oid, 'domains/newco/services.yaml', v.bindings);
    list.save();
    const again = new CheckedBlobs(dir, 'domains').bindings(oid, 'domains/newco/services.yaml')!;
    expect(again.map(parseBinding)).toEqual([
      { ip: '10.0.0.6', port: '22', name },
      { ip: '2001:db8::6', port: '21', name: 'ftp' },
    ]);

    // A list written before names were kept is dropped whole: its entries would name no service.
    writeFileSync(
      join(dir, 'checked-blobs'),
      `gitfailover checked-blobs v1 domains\n${oid} domains/newco/services.yaml\t10.0.0.6|22\n`,
    );
    expect(new CheckedBlobs(dir, 'domains').has(oid, 'domains/newco/services.yaml')).toBe(false);
  });

  it('unmappedBindings names the service when given the names, and the description escapes it', () => {
    const bindings = { newco: ['10.1.0.5:21', '10.0.0.6:22', '0.0.0.0:990'], acme: ['10.0.0.7:22'] };
    const names = { newco: ['ftp', 'sftp\u001b[2J', 'ftps'] };
    const got = unmappedBindings(bindings, { '10.0.0.5': '10.1.0.5' }, [], names);
    expect(got).toEqual([
      { domain: 'newco', service: 'sftp\u001b[2J', ip: '10.0.0.6', port: 22 },
      { domain: 'acme', ip: '10.0.0.7', port: 22 },
    ]);
    expect(got.map(describeUnmappedService)).toEqual(['service sftp\\x1b[2J, 10.0.0.6:22', '10.0.0.7:22']);
    // An empty substitution.ips is "no substitution": nothing is reported.
    expect(unmappedBindings(bindings, {}, [], names)).toEqual([]);
  });
});
