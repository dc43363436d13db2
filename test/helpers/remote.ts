import { parse } from 'yaml';
import { git, type Pair } from './fixture.js';

/** A file as the pair's remote has it on main. */
export const remoteFile = async (p: Pair, path: string): Promise<string> =>
  git(['--git-dir', p.remote, 'show', `main:${path}`]);

/** The primary file on the remote's main: who is primary, at which epoch. */
export const remotePrimary = async (p: Pair): Promise<{ node: string; epoch: number }> =>
  parse(await remoteFile(p, '.gitfailover/primary')) as { node: string; epoch: number };
