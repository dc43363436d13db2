import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { removeDir } from '../helpers/fixture.js';
import { expectRefused, files, setupCorpus, type Corpus } from './setup.js';

/**
 * The bad-input corpus: each case is one commit an attacker or a careless admin pushes to the
 * remote. Every case asserts the three things that matter (see expectRefused): refused with an
 * error naming the commit and the file, nothing applied, the last good commit still serving.
 */
let c: Corpus;
beforeAll(async () => {
  c = await setupCorpus();
}, 60_000);
afterAll(() => removeDir(c.pair.dir));

const services = (list: unknown[]) => stringify({ services: list });
const svc = (over: Record<string, unknown> = {}) => ({ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22, ...over });
const ACME_SERVICES = 'domains/acme/services.yaml';

describe('corpus: YAML that does not parse or explodes', () => {
  it('unparseable YAML (an unclosed flow sequence)', async () => {
    await expectRefused(c, files({ 'domains/acme/domain.yaml': 'name: acme\nenabled: [true\n' }), { names: 'domains/acme/domain.yaml', code: 'E_YAML' });
  });

  it('unparseable YAML (a tab where indentation belongs)', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: 'services:\n\t- name: sftp\n' }), { names: ACME_SERVICES, code: 'E_YAML' });
  });

  it('billion laughs (nested aliases)', async () => {
    let y = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    const names = 'abcdefghi';
    for (let i = 1; i < names.length; i++) y += `${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]\n`;
    await expectRefused(c, files({ 'domains/acme/users/alice.yaml': `name: alice\n${y}` }), { names: 'domains/acme/users/alice.yaml', code: 'E_YAML' });
  });

  it('deep nesting (100,000 nested flow sequences)', async () => {
    await expectRefused(c, files({ 'domains/acme/users/alice.yaml': `name: alice\nhome: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n` }), {
      names: 'domains/acme/users/alice.yaml',
    });
  });

  it('deep nesting (20,000 nested block mappings)', async () => {
    let y = 'name: alice\nx:\n';
    for (let i = 1; i < 20_000; i++) y += `${' '.repeat(i)}k:\n`;
    await expectRefused(c, files({ 'domains/acme/users/alice.yaml': y }), { names: 'domains/acme/users/alice.yaml' });
  });

  it('a duplicate key', async () => {
    await expectRefused(c, files({ 'domains/acme/domain.yaml': 'name: acme\nenabled: true\nenabled: false\n' }), { names: 'domains/acme/domain.yaml', code: 'E_YAML' });
  });

  it('binary garbage where services.yaml belongs', async () => {
    await expectRefused(c, [{ path: ACME_SERVICES.split('/'), content: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x0a, 0x3a, 0x3a]) }], { names: ACME_SERVICES });
  });
});

describe('corpus: wrong types and values', () => {
  it('services is a mapping, not a list', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: 'services:\n  sftp: 22\n' }), { names: ACME_SERVICES, code: 'E_SCHEMA' });
  });

  it('a port written as a word', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ port: 'twenty-two' })]) }), { names: ACME_SERVICES, code: 'E_PORT_INVALID' });
  });

  it('a fractional port', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ port: 22.5 })]) }), { names: ACME_SERVICES, code: 'E_PORT_INVALID' });
  });

  it('port 0 (out of range)', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ port: 0 })]) }), { names: ACME_SERVICES, code: 'E_PORT_INVALID' });
  });

  it('port 70000 (out of range)', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ port: 70_000 })]) }), { names: ACME_SERVICES, code: 'E_PORT_INVALID' });
  });

  it('an IPv4 address with an octet over 255', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ ip: '10.0.0.256' })]) }), { names: ACME_SERVICES, code: 'E_IP_INVALID' });
  });

  it('a short-form IPv4 address (10.5)', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ ip: '10.5' })]) }), { names: ACME_SERVICES, code: 'E_IP_INVALID' });
  });

  it('an IPv6 address with bad hex', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ ip: '2001:db8::gggg' })]) }), { names: ACME_SERVICES, code: 'E_IP_INVALID' });
  });

  it('an unknown protocol', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc({ protocol: 'telnet' })]) }), { names: ACME_SERVICES, code: 'E_SCHEMA' });
  });

  it('enabled is a string', async () => {
    await expectRefused(c, files({ 'domains/acme/domain.yaml': 'name: acme\nenabled: "yes please"\n' }), { names: 'domains/acme/domain.yaml', code: 'E_SCHEMA' });
  });

  it('a user file that is a list, not a mapping', async () => {
    await expectRefused(c, files({ 'domains/acme/users/alice.yaml': '- alice\n- root\n' }), { names: 'domains/acme/users/alice.yaml', code: 'E_SCHEMA' });
  });

  it('server.yaml that is a scalar', async () => {
    await expectRefused(c, files({ 'server.yaml': 'just a string\n' }), { names: 'server.yaml', code: 'E_SCHEMA' });
  });

  it('domain.yaml naming another domain', async () => {
    await expectRefused(c, files({ 'domains/acme/domain.yaml': 'name: beta\n' }), { names: 'domains/acme/domain.yaml', code: 'E_NAME_MISMATCH' });
  });

  it('a user file naming another user', async () => {
    await expectRefused(c, files({ 'domains/acme/users/alice.yaml': 'name: root\n' }), { names: 'domains/acme/users/alice.yaml', code: 'E_NAME_MISMATCH' });
  });
});

describe('corpus: bindings and templates', () => {
  it('duplicate bindings inside one domain', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc(), svc({ name: 'sftp2' })]) }), { names: ACME_SERVICES, code: 'E_DUPLICATE_BINDING' });
  });

  it('duplicate bindings across domains (beta takes acme\'s address and port)', async () => {
    await expectRefused(c, files({ 'domains/beta/services.yaml': services([svc({ name: 'ftps', protocol: 'ftps' })]) }), {
      names: 'domains/beta/services.yaml',
      code: 'E_DUPLICATE_BINDING',
    });
  });

  it('duplicate bindings that appear only after IP substitution', async () => {
    // 10.0.0.5 becomes 10.1.0.5 on this standby: a service already on 10.1.0.5:22 collides with it.
    await expectRefused(c, files({ 'domains/beta/services.yaml': services([svc({ name: 'ftps', ip: '10.1.0.5' })]) }), {
      names: 'domains/beta/services.yaml',
      code: 'E_DUPLICATE_BINDING',
    });
  });

  it('duplicate service names', async () => {
    await expectRefused(c, files({ [ACME_SERVICES]: services([svc(), svc({ port: 2222 })]) }), { names: ACME_SERVICES, code: 'E_SERVICE_DUPLICATE' });
  });

  it('a template placeholder without a value', async () => {
    await expectRefused(c, files({ 'domains/acme/native.conf': 'listen {{ standby_ip }}\n' }), { names: 'domains/acme/native.conf', code: 'E_TEMPLATE_VAR' });
  });

  it('a template placeholder without a value in a global file', async () => {
    await expectRefused(c, files({ 'native/mft.conf': 'listen {{ listen_ip }}\n' }), { names: 'native/mft.conf', code: 'E_TEMPLATE_VAR' });
  });
});

describe('corpus: paths that try to leave the live dir', () => {
  it('a domain named ".." (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['domains', '..', 'domain.yaml'], content: 'enabled: true\n' }], { names: 'domains/..', code: /E_UNSAFE/ });
  });

  it('a domain named ".git"', async () => {
    await expectRefused(c, [{ path: ['domains', '.git', 'config'], content: '[core]\n\tfsmonitor = touch /tmp/pwned\n' }], { names: 'domains/.git', code: /E_UNSAFE/ });
  });

  it('a domain named "-rf" (would be an option to a command)', async () => {
    await expectRefused(c, [{ path: ['domains', '-rf', 'domain.yaml'], content: 'enabled: true\n' }], { names: 'domains/-rf', code: 'E_UNSAFE_NAME' });
  });

  it('a domain named "$(reboot)"', async () => {
    await expectRefused(c, [{ path: ['domains', '$(reboot)', 'domain.yaml'], content: 'enabled: true\n' }], { names: '$(reboot)', code: 'E_UNSAFE_NAME' });
  });

  it('a ".." folder inside a domain (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', '..', '..', '..', 'evil.conf'], content: 'x\n' }], { names: /domains\/acme\/\.\./, code: /E_UNSAFE/ });
  });

  it('a global file at "../outside.conf" (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['..', 'outside.conf'], content: 'x\n' }], { names: '../outside.conf', code: /E_UNSAFE/ });
  });

  it('an absolute path: a name with slashes, "/etc/cron.d/evil" (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', '/etc/cron.d/evil'], content: '* * * * * root reboot\n' }], { names: 'etc/cron.d/evil', code: /E_UNSAFE/ });
  });

  it('an absolute path at the top of the tree (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['/etc/passwd'], content: 'root::0:0::/root:/bin/sh\n' }], { names: 'etc/passwd', code: /E_UNSAFE/ });
  });

  // A tree entry's name ends at its NUL, so a NUL inside a name (or an empty name) makes a
  // malformed tree: git's upload-pack on the remote refuses to send it, and the standby's fetch
  // fails naming the remote (it never receives the commit, so it cannot name it).
  it('a NUL in a name (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', 'users', 'eve\0.yaml'], content: 'name: eve\n' }], { names: /cannot fetch from .*remote\.git.*corruption/, code: 'E_REMOTE', transport: true });
  });

  it('an empty name (crafted tree)', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', '', 'x.conf'], content: 'x\n' }], { names: /cannot fetch from .*remote\.git.*corruption/, code: 'E_REMOTE', transport: true });
  });

  it('a user file named "-rf.yaml" (would be an option to a command)', async () => {
    await expectRefused(c, files({ 'domains/acme/users/-rf.yaml': 'home: /\n' }), { names: 'domains/acme/users/-rf.yaml', code: /E_UNSAFE/ });
  });

  it('a ".git" folder inside a domain', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', '.GIT', 'hooks', 'post-checkout'], mode: '100755', content: '#!/bin/sh\ntouch /tmp/pwned\n' }], {
      names: 'domains/acme/.GIT',
      code: 'E_UNSAFE_PATH',
    });
  });

  it('a symlink to /etc/passwd inside a domain', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', 'users', 'passwd.yaml'], mode: '120000', content: '/etc/passwd' }], {
      names: 'domains/acme/users/passwd.yaml',
      code: 'E_SYMLINK',
    });
  });

  it('a domain folder replaced by a symlink to /etc', async () => {
    await expectRefused(c, [{ path: ['domains', 'evil'], mode: '120000', content: '/etc' }], { names: 'domains/evil', code: 'E_SYMLINK' });
  });

  it('a global file that is a symlink to /etc/shadow', async () => {
    await expectRefused(c, [{ path: ['native', 'shadow.conf'], mode: '120000', content: '/etc/shadow' }], { names: 'native/shadow.conf', code: 'E_SYMLINK' });
  });
});

describe('corpus: things git would do on checkout', () => {
  it('a submodule (gitlink) inside a domain', async () => {
    await expectRefused(c, [{ path: ['domains', 'acme', 'vendor'], mode: '160000', oid: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' }], { names: 'domains/acme/vendor', code: 'E_SUBMODULE' });
  });

  it('a .gitmodules file pointing at another repo', async () => {
    await expectRefused(c, files({ '.gitmodules': '[submodule "x"]\n\tpath = x\n\turl = https://evil.example/x.git\n' }), { names: '.gitmodules', code: 'E_GIT_CONTROL_FILE' });
  });

  it('a .gitattributes filter (would run a command on checkout)', async () => {
    const marker = join(c.pair.dir, 'pwned');
    await expectRefused(
      c,
      files({ '.gitattributes': `* filter=pwn\n`, 'domains/acme/.gitattributes': '*.yaml filter=pwn diff=pwn\n', 'domains/acme/users/bob.yaml': 'name: bob\n' }),
      { names: '.gitattributes', code: 'E_GIT_CONTROL_FILE' },
    );
    expect(existsSync(marker)).toBe(false);
  });
});

describe('corpus: history', () => {
  it('a rewritten history (a force-push of a commit that does not descend from the applied one)', async () => {
    const tree = c.crafter.buildTree(files({ 'server.yaml': 'name: mft\n', 'domains/acme/domain.yaml': 'name: acme\n' }));
    await expectRefused(c, { tree, parents: [] }, { names: /rewritten/, code: 'E_HISTORY_REWRITTEN', partialOnly: true });
  });

  it('a good commit on top of a bad one (every new commit counts only as the net diff; the bad file is still there)', async () => {
    const badTree = c.crafter.buildTree([...c.base.filter((f) => f.path.join('/') !== ACME_SERVICES), ...files({ [ACME_SERVICES]: services([svc({ port: 0 })]) })]);
    const bad = c.crafter.commit(badTree, [c.good], 'bad');
    const onTop = c.crafter.buildTree([
      ...c.base.filter((f) => f.path.join('/') !== ACME_SERVICES && f.path.join('/') !== 'server.yaml'),
      ...files({ [ACME_SERVICES]: services([svc({ port: 0 })]), 'server.yaml': 'name: mft\nlogLevel: debug\n' }),
    ]);
    await expectRefused(c, { tree: onTop, parents: [bad] }, { names: ACME_SERVICES, code: 'E_PORT_INVALID' });
  });
});

describe('corpus: what the file system refuses during the apply (issue 18)', () => {
  it('the domains folder replaced by a file (a type clash, refused before the apply)', async () => {
    const bad = [...c.base.filter((f) => f.path[0] !== 'domains'), ...files({ domains: 'not a folder\n' })];
    await expectRefused(c, { tree: c.crafter.buildTree(bad) }, { names: 'domains', code: 'E_TYPE_CLASH' });
  });

  it('a domain file whose name is over 255 bytes (ENAMETOOLONG; nothing left in staging)', async () => {
    const long = `${'a'.repeat(300)}.conf`;
    await expectRefused(c, files({ [`domains/acme/${long}`]: 'x: 1\n' }), { names: /a{100}/ });
    expect(existsSync(join(c.pair.failLive, '.gitfailover-staging'))).toBe(false);
  });
});
