import { describe, expect, it } from 'vitest';
import { parseNodeFile } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { parseSignatures, whyRefused } from '../../../src/repo/signatures.js';

/** The pure parts of signature verification, on canned `git log` output, and repo.verify in the node file. */
const node = (verify: string) => `node: failover-1
role: standby
repo:
  remote: /srv/git/mft.git
  stateDir: state
  verify:
${verify}
live:
  dir: /opt/mft/etc
`;

function refusal(text: string): ConfigError {
  try {
    parseNodeFile('/etc/gf/gitfailover.yaml', text, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected the node file to be refused');
}

describe('signature output', () => {
  it('parses one entry per commit, newest first, with an unsigned commit as N', () => {
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const c = 'c'.repeat(40);
    const out = `${a}\x01G\x01prod-1@gitfailover\x01SHA256:abc\0\n${b}\x01E\x01\x01B5690EEEBB952194\0\n${c}\x01N\x01\x01\0`;
    expect(parseSignatures(out)).toEqual([
      { commit: a, status: 'G', signer: 'prod-1@gitfailover', key: 'SHA256:abc' },
      { commit: b, status: 'E', signer: '', key: 'B5690EEEBB952194' },
      { commit: c, status: 'N', signer: '', key: '' },
    ]);
  });

  it('says which kind of key is missing from which list', () => {
    const c = 'c'.repeat(40);
    expect(whyRefused({ commit: c, status: 'N', signer: '', key: '' })).toBe('is not signed');
    expect(whyRefused({ commit: c, status: 'U', signer: '', key: 'SHA256:xyz' })).toBe(
      'is signed by an SSH key SHA256:xyz that is not in repo.verify.allowedSigners',
    );
    expect(whyRefused({ commit: c, status: 'E', signer: '', key: 'B5690EEEBB952194' })).toBe(
      'is signed by an OpenPGP key B5690EEEBB952194 that is not in repo.verify.gpgKeyring',
    );
    expect(whyRefused({ commit: c, status: 'B', signer: '', key: 'SHA256:xyz' })).toMatch(/bad signature/);
    expect(whyRefused({ commit: c, status: 'R', signer: '', key: 'B5690EEEBB952194' })).toBe(
      'is signed by a revoked key B5690EEEBB952194',
    );
  });
});

describe('repo.verify in the node file', () => {
  it('takes one keyring file or a list, resolved against the node file, and a full anchor id', () => {
    const anchor = '0123456789abcdef0123456789abcdef01234567';
    let cfg = parseNodeFile(
      '/etc/gf/gitfailover.yaml',
      node(`    gpgKeyring: trusted.gpg\n    anchor: "${anchor}"`),
      {},
    );
    expect(cfg.repo.verify).toMatchObject({ gpgKeyring: ['/etc/gf/trusted.gpg'], anchor });
    expect(cfg.repo.verify?.allowedSigners).toBeUndefined();
    cfg = parseNodeFile(
      '/etc/gf/gitfailover.yaml',
      node('    allowedSigners: allowed_signers\n    gpgKeyring: [web-flow.asc, /keys/admin.asc]'),
      {},
    );
    expect(cfg.repo.verify).toMatchObject({
      allowedSigners: '/etc/gf/allowed_signers',
      gpgKeyring: ['/etc/gf/web-flow.asc', '/keys/admin.asc'],
    });
  });

  it('refuses a verify section that trusts no key, and an abbreviated anchor', () => {
    expect(refusal(node('    anchor: "0123456789abcdef0123456789abcdef01234567"')).message).toMatch(
      /repo\.verify.*give allowedSigners, gpgKeyring or both/,
    );
    // A short id could name a commit made later to collide with it.
    expect(refusal(node('    allowedSigners: a\n    anchor: "0123456"')).message).toMatch(
      /repo\.verify\.anchor.*full commit id/,
    );
  });
});
