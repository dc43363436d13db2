import { describe, expect, it } from 'vitest';
import {
  remoteAccess,
  remoteFailure,
  scrub,
  shellQuote,
  sshPathOption,
  transportOf,
  ASKPASS_SCRIPT,
} from '../../../src/repo/remote-access.js';

describe('transportOf', () => {
  it.each([
    ['https://github.com/acme/config.git', 'http'],
    ['http://127.0.0.1:8080/config.git', 'http'],
    ['ssh://git@github.com/acme/config.git', 'ssh'],
    ['git@github.com:acme/config.git', 'ssh'],
    ['/srv/git/config.git', 'local'],
    ['file:///srv/git/config.git', 'local'],
    ['C:\\git\\config.git', 'local'],
  ])('%s is %s', (remote, transport) => expect(transportOf(remote)).toBe(transport));
});

describe('remoteAccess', () => {
  it('hands https credentials to the askpass helper through the environment only', () => {
    const a = remoteAccess('https://example.com/r.git', { auth: { username: 'deploy', password: 's3cret' } });
    expect(a.args).toEqual(['-c', 'credential.helper=']);
    expect(a.args.join(' ')).not.toContain('s3cret');
    expect(a.env).toMatchObject({
      GIT_ASKPASS: ASKPASS_SCRIPT,
      GITFAILOVER_GIT_USERNAME: 'deploy',
      GITFAILOVER_GIT_PASSWORD: 's3cret',
    });
    expect(a.secrets).toEqual(['s3cret']);
  });

  it('refuses credentials that do not fit the transport', () => {
    expect(() => remoteAccess('git@example.com:r.git', { auth: { username: 'u', password: 'p' } })).toThrow(
      /repo\.auth is for https remotes/,
    );
    expect(() => remoteAccess('https://example.com/r.git', { sshKey: '/k' })).toThrow(/are for ssh remotes/);
  });

  it('says which token file cannot be read', () => {
    expect(() =>
      remoteAccess('https://example.com/r.git', { auth: { username: 'u', tokenFile: '/nonexistent/token' } }),
    ).toThrow(/repo\.auth\.tokenFile: cannot read \/nonexistent\/token: ENOENT/);
  });

  it('leaves local remotes and plain ssh alone', () => {
    expect(remoteAccess('/srv/git/r.git', {})).toEqual({ args: [], env: {}, secrets: [] });
    expect(remoteAccess('git@example.com:r.git', {})).toEqual({ args: [], env: {}, secrets: [] });
  });
});

describe('quoting', () => {
  it('quotes ssh option paths against blank splitting and % tokens', () => {
    expect(sshPathOption('/etc/keys with space/id_%h')).toBe('"/etc/keys with space/id_%%h"');
    expect(sshPathOption('/a"b\\c')).toBe('"/a\\"b\\\\c"');
    expect(() => sshPathOption('/a\nb')).toThrow(/line break/);
  });
  it('quotes a path for a shell', () => expect(shellQuote("/opt/it's/x")).toBe(`'/opt/it'\\''s/x'`));
  it('scrubs secrets', () => expect(scrub('a s3cret b s3cret', ['s3cret', ''])).toBe('a *** b ***'));
});

describe('remoteFailure', () => {
  const creds = { sshKey: '/k/deploy', knownHosts: '/k/known_hosts', auth: { username: 'deploy', password: 'x' } };
  it.each([
    ['Host key verification failed.', 'E_REMOTE_HOST_KEY'],
    ['@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @', 'E_REMOTE_HOST_KEY'],
    ['git@example.com: Permission denied (publickey).', 'E_REMOTE_KEY'],
    ['WARNING: UNPROTECTED PRIVATE KEY FILE!', 'E_REMOTE_KEY'],
    ["fatal: Authentication failed for 'https://example.com/r.git/'", 'E_REMOTE_AUTH'],
    ['error: The requested URL returned error: 403', 'E_REMOTE_AUTH'],
  ])('%s -> %s', (stderr, code) => expect(remoteFailure(stderr, creds, false)?.code).toBe(code));
  it('leaves other failures (network, missing repo) to be retried', () => {
    expect(remoteFailure('fatal: unable to access: Could not resolve host: example.com', creds, false)).toBeUndefined();
  });
  it('says which access the token needs', () => {
    expect(remoteFailure('returned error: 403', creds, true)?.hint).toContain('write (push) access');
  });
});
