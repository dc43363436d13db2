import { describe, expect, it } from 'vitest';
import { fetchPackReaches, parseFetchPack } from '../../../src/repo/node-repo.js';

describe('fetchPackReaches', () => {
  it.each([
    ['/srv/git/config.git', true],
    ['relative/config.git', true],
    ['file:///srv/git/config.git', true],
    ['ssh://git@example.com:2222/config.git', true],
    ['git+ssh://git@example.com/config.git', true],
    ['git@example.com:org/config.git', true],
    ['git://example.com/config.git', true],
    ['https://example.com/org/config.git', false],
    ['HTTP://example.com/config.git', false],
    ['ftps://example.com/config.git', false],
    ['codecommit::eu-west-1://config', false],
  ])('%s -> %s', (remote, expected) => {
    expect(fetchPackReaches(remote)).toBe(expected);
  });
});

describe('parseFetchPack', () => {
  const oid = 'a'.repeat(40);
  it('takes the line of the asked ref', () => {
    expect(parseFetchPack(`${'b'.repeat(40)} refs/heads/other\n${oid} refs/heads/main\n`, 'refs/heads/main')).toBe(oid);
  });
  it('is undefined when the ref is not printed', () => {
    expect(parseFetchPack('', 'refs/heads/main')).toBeUndefined();
    expect(parseFetchPack(`${oid} refs/heads/mainline\n`, 'refs/heads/main')).toBeUndefined();
  });
});
