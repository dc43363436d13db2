import { describe, expect, it } from 'vitest';
import { childEnv, registerSecretVariable } from '../../../src/util/child-env.js';
import { maskSecretFields, redact } from '../../../src/util/redact.js';
import { confine } from '../../../src/loaders/confine.js';
import { domainWebhookRefusal } from '../../../src/triggers/dispatcher.js';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../helpers/fixture.js';

describe('redact: the one redaction', () => {
  it('masks userinfo, path tokens and query values in every URL of a text, and keeps the words', () => {
    const line =
      'webhook https://hooks.example.com/services/XOXB-SUPERSECRET?token=QSECRET-123 failed; remote https://bot:ghp_abc123@git.example.com/org/mft-config.git ok';
    const out = redact(line);
    expect(out).not.toContain('SUPERSECRET');
    expect(out).not.toContain('QSECRET');
    expect(out).not.toContain('ghp_abc123');
    expect(out).toContain('https://hooks.example.com/services/***?token=***');
    expect(out).toContain('https://***@git.example.com/org/mft-config.git');
  });

  it('leaves plain words and texts without URLs alone', () => {
    expect(redact('http://10.1.0.5:7420/notify')).toBe('http://10.1.0.5:7420/notify');
    expect(redact('no url here: token=abc')).toBe('no url here: token=abc');
  });
});

describe('maskSecretFields', () => {
  it('masks values of fields named like secrets in a diff, keeping the names', () => {
    const diff =
      '-  passwordHash: $2b$10$old\n+  passwordHash: $2b$10$new\n   home: /data/alice\n+  apiToken: "abc"\n+  privateKey: xyz\n+  secret: s\n';
    const out = maskSecretFields(diff);
    expect(out).not.toMatch(/\$2b|abc|xyz|: s$/m);
    expect(out).toContain('-  passwordHash: ***');
    expect(out).toContain('   home: /data/alice');
  });
});

describe('childEnv: one environment policy', () => {
  it('never hands the tool secrets to a child', () => {
    registerSecretVariable('SMTP_PASS_FOR_TEST');
    const base = { PATH: '/bin', GITFAILOVER_NOTIFY_SECRET: 'n', SMTP_PASS_FOR_TEST: 'p', OTHER: 'o' };
    for (const kind of ['git', 'command', 'exec'] as const) {
      const env = childEnv(kind, { GITFAILOVER_DOMAIN: 'acme' }, base);
      expect(env.GITFAILOVER_NOTIFY_SECRET).toBeUndefined();
      expect(env.SMTP_PASS_FOR_TEST).toBeUndefined();
      expect(env.GITFAILOVER_DOMAIN).toBe('acme');
      expect(env.PATH).toBe('/bin');
    }
    expect(childEnv('git', {}, base).OTHER).toBeUndefined();
    expect(childEnv('command', {}, base).OTHER).toBe('o');
  });
});

describe('confine: every live-dir write is proven inside it', () => {
  it('refuses .., absolute paths and a symlinked folder on the way', () => {
    const dir = tempDir('gf-confine-');
    try {
      mkdirSync(join(dir, 'live', 'domains'), { recursive: true });
      symlinkSync('/tmp', join(dir, 'live', 'escape'));
      const live = join(dir, 'live');
      expect(confine(live, 'domains/acme')).toBe(join(live, 'domains', 'acme'));
      for (const bad of ['../x', 'domains/../../x', '/etc/passwd', '', 'escape/x'])
        expect(() => confine(live, bad), bad).toThrow(/E_OUTSIDE|outside|symbolic link|inside the live dir/);
    } finally {
      removeDir(dir);
    }
  });
});

describe('domainWebhookRefusal: repo webhooks stay in their lane', () => {
  it('allows only listed hosts and refuses credential and metadata headers', () => {
    const url = 'http://127.0.0.1:7998/internal/admin';
    expect(domainWebhookRefusal({ url }, [])).toMatch(/not in domainTriggers.allowHosts/);
    expect(domainWebhookRefusal({ url }, ['127.0.0.1:7998'])).toBeUndefined();
    expect(domainWebhookRefusal({ url }, ['127.0.0.1'])).toBeUndefined();
    expect(domainWebhookRefusal({ url }, ['127.0.0.1:80'])).toMatch(/allowHosts/);
    for (const h of ['Authorization', 'cookie', 'Host', 'Metadata-Flavor', 'Metadata']) {
      expect(domainWebhookRefusal({ url, headers: { [h]: 'x' } }, ['127.0.0.1'])).toContain(h);
    }
    expect(domainWebhookRefusal({ url: 'http://u:p@127.0.0.1/', headers: {} }, ['127.0.0.1'])).toMatch(/credentials/);
  });
});
