import { describe, expect, it } from 'vitest';
import { commitTreeArgs, commitTreeEnv, nodeCommitter } from '../../../src/repo/commit-tree.js';
import { indexInfo } from '../../../src/repo/git-index.js';
import {
  HISTORY_FORMAT,
  parseAuthored,
  parseHistory,
  parseLsFilesStage,
  parseLsFilesTagged,
  parseMergeTree,
  parseParents,
  parseRawDiff,
  parseTrailerList,
} from '../../../src/repo/parsers.js';

// Canned output as git 2.39 prints it; the same commands run for real in the integration tests.
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('git output parsers', () => {
  it('diff-tree/diff-index -z --raw: status, modes, ids, paths with spaces and tabs', () => {
    const out = `:000000 100644 ${'0'.repeat(40)} ${A} A\x00domains/a b/users/x.yaml\x00:100644 000000 ${B} ${'0'.repeat(40)} D\x00t\tab.txt\x00`;
    expect(parseRawDiff(out)).toEqual([
      {
        status: 'A',
        path: 'domains/a b/users/x.yaml',
        oldOid: '0'.repeat(40),
        newOid: A,
        oldMode: '000000',
        newMode: '100644',
      },
      { status: 'D', path: 't\tab.txt', oldOid: B, newOid: '0'.repeat(40), oldMode: '100644', newMode: '000000' },
    ]);
    expect(parseRawDiff('')).toEqual([]);
  });

  it('ls-files -z --stage and -t', () => {
    expect(parseLsFilesStage(`100644 ${A} 0\tx/y.age\x00120000 ${B} 0\tlink\x00`)).toEqual([
      { mode: '100644', oid: A, path: 'x/y.age' },
      { mode: '120000', oid: B, path: 'link' },
    ]);
    expect(parseLsFilesTagged('? new.yaml\x00C changed.yaml\x00? nested/\x00')).toEqual({
      untracked: ['new.yaml', 'nested/'],
      modified: ['changed.yaml'],
    });
  });

  it('rev-list --parents, merge-tree, trailers', () => {
    expect(parseParents(`${A} ${B} ${C}\n`)).toEqual([B, C]);
    expect(parseParents(`${A}\n`)).toEqual([]);
    expect(parseMergeTree(`${A}\n`, 0)).toEqual({ tree: A });
    expect(parseMergeTree(`${A}\nx.yaml\nx.yaml\ny.yaml\n`, 1)).toEqual({ tree: A, conflicts: ['x.yaml', 'y.yaml'] });
    expect(parseTrailerList(' prod-1, fail-1 ,\n')).toEqual(['prod-1', 'fail-1']);
    expect(parseTrailerList('\n')).toBeUndefined();
  });

  it('log: the audit trail records and a commit to replay', () => {
    expect(HISTORY_FORMAT).toContain('%H');
    const rec = (f: string[]) => `\x1e${f.join('\x1f')}`;
    const out = `${rec([A, `${B} ${C}`, '2026-01-01T00:00:00+00:00', 'Ada', 'ada@x', 'gitfailover (p)', 'add carol', 'body\n\n'])}\n${rec([B, '', 't', 'Bob', 'b@x', 'c', 'first', ''])}\n`;
    expect(parseHistory(out)).toEqual([
      {
        commit: A,
        parent: B,
        time: '2026-01-01T00:00:00+00:00',
        author: 'Ada',
        email: 'ada@x',
        committer: 'gitfailover (p)',
        subject: 'add carol',
        body: 'body',
      },
      {
        commit: B,
        parent: undefined,
        time: 't',
        author: 'Bob',
        email: 'b@x',
        committer: 'c',
        subject: 'first',
        body: '',
      },
    ]);
    expect(parseAuthored('Ada\x00ada@x\x002026-01-01T00:00:00+00:00\x00subject\n\nbody\n')).toEqual({
      author: { name: 'Ada', email: 'ada@x', date: '2026-01-01T00:00:00+00:00' },
      message: 'subject\n\nbody\n',
    });
  });
});

describe('argv builders', () => {
  it('commit-tree: signing options before the subcommand, -S and parents after, message on stdin', () => {
    expect(commitTreeArgs({ tree: A, parents: [B, C] })).toEqual(['commit-tree', A, '-p', B, '-p', C, '-F', '-']);
    expect(commitTreeArgs({ tree: A, parents: [], signingKey: '/k' })).toEqual([
      '-c',
      'gpg.format=ssh',
      '-c',
      'user.signingkey=/k',
      'commit-tree',
      '-S',
      A,
      '-F',
      '-',
    ]);
    expect(
      commitTreeEnv({ author: { name: 'Ada', email: 'a@x', date: 'D' }, committer: nodeCommitter('prod-1') }),
    ).toEqual({
      GIT_AUTHOR_NAME: 'Ada',
      GIT_AUTHOR_EMAIL: 'a@x',
      GIT_AUTHOR_DATE: 'D',
      GIT_COMMITTER_NAME: 'gitfailover (prod-1)',
      GIT_COMMITTER_EMAIL: 'gitfailover@prod-1',
    });
  });

  it('update-index --index-info: entries and removals, NUL-terminated', () => {
    expect(
      indexInfo([
        { mode: '100644', oid: A, path: 'a b' },
        { remove: true, path: 'gone' },
      ]),
    ).toBe(`100644 ${A}\ta b\x000 ${'0'.repeat(40)}\tgone\x00`);
  });
});
