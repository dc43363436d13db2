export interface Identity {
  name: string;
  email: string;
}

/** What `git commit-tree` is given, once for every commit gitfailover writes. */
export interface CommitTreeInput {
  tree: string;
  parents: readonly string[];
  message: string;
  /** Who made the change; `date` (ISO) keeps a replayed commit's authorship time. */
  author: Identity & { date?: string };
  /** The node that wrote the commit (nodeCommitter), else git's default identity. */
  committer?: Identity;
  /** record.signingKey: an SSH key to sign with. */
  signingKey?: string;
}

/** The committer of every commit a node writes: `gitfailover (<node>)`. */
export function nodeCommitter(node: string): Identity {
  return { name: `gitfailover (${node})`, email: `gitfailover@${node}` };
}

/** argv of `git commit-tree`; the message goes on stdin (`-F -`), so it is never parsed as options. */
export function commitTreeArgs(c: Pick<CommitTreeInput, 'tree' | 'parents' | 'signingKey'>): string[] {
  const sign = signingArgs(c.signingKey);
  return [...sign.config, 'commit-tree', ...sign.flag, c.tree, ...c.parents.flatMap((p) => ['-p', p]), '-F', '-'];
}

/** The identity environment of `git commit-tree`. */
export function commitTreeEnv(c: Pick<CommitTreeInput, 'author' | 'committer'>): NodeJS.ProcessEnv {
  return {
    GIT_AUTHOR_NAME: c.author.name,
    GIT_AUTHOR_EMAIL: c.author.email,
    ...(c.author.date ? { GIT_AUTHOR_DATE: c.author.date } : {}),
    ...(c.committer ? { GIT_COMMITTER_NAME: c.committer.name, GIT_COMMITTER_EMAIL: c.committer.email } : {}),
  };
}

/** `git -c ... commit-tree -S`: the `-c` part (before the subcommand) and the flag (after it). */
export function signingArgs(signingKey: string | undefined): { config: string[]; flag: string[] } {
  if (!signingKey) return { config: [], flag: [] };
  return { config: ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${signingKey}`], flag: ['-S'] };
}
