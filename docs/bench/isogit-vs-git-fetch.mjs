// Fetch over smart HTTP with basic auth: the git CLI (as NodeRepo runs it, credentials through
// bin/git-askpass.sh) against isomorphic-git's fetch, on a loopback `git http-backend`.
// isomorphic-git is not a dependency of gitfailover; to run this:
//   npm install --no-save isomorphic-git && node docs/bench/isogit-vs-git-fetch.mjs [domains] [rounds]
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';

const DOMAINS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);
const USER = 'bench';
const PASSWORD = 'bench-password';
const ASKPASS = fileURLToPath(new URL('../../bin/git-askpass.sh', import.meta.url));
const dir = fs.mkdtempSync(join(tmpdir(), 'gf-isobench-'));
const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' };
const run = (args, cwd, extra = {}) => execFileSync('git', args, { cwd, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });

// A config repo of DOMAINS domains (domain.yaml, services.yaml, one user), one commit.
const work = join(dir, 'work');
for (let i = 0; i < DOMAINS; i++) {
  const d = join(work, 'domains', `d${i}`);
  fs.mkdirSync(join(d, 'users'), { recursive: true });
  fs.writeFileSync(join(d, 'domain.yaml'), `name: d${i}\nenabled: true\n`);
  fs.writeFileSync(join(d, 'services.yaml'), `services:\n  - { name: sftp, protocol: sftp, ip: 10.0.${i >> 8}.${i & 255}, port: 22 }\n`);
  fs.writeFileSync(join(d, 'users', 'alice.yaml'), `name: alice\npasswordHash: "$2b$10$abcdefghijklmnopqrstuv"\nhome: /data/alice\n`);
}
run(['init', '-q', '--initial-branch=main'], work);
run(['add', '-A'], work);
run(['commit', '-q', '-m', 'import'], work);
fs.mkdirSync(join(dir, 'srv'));
run(['clone', '-q', '--bare', work, join(dir, 'srv', 'config.git')]);

const server = createServer((req, res) => {
  const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
  if (auth !== `${USER}:${PASSWORD}`) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="bench"' });
    return res.end();
  }
  const url = new URL(req.url, 'http://x');
  const cgi = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH, GIT_PROJECT_ROOT: join(dir, 'srv'), GIT_HTTP_EXPORT_ALL: '1', REMOTE_USER: USER,
      REQUEST_METHOD: req.method, PATH_INFO: url.pathname, QUERY_STRING: url.search.slice(1), CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: req.headers['git-protocol'] } : {}),
    },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let body = false;
  cgi.stdout.on('data', (c) => {
    if (body) return res.write(c);
    head = Buffer.concat([head, c]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    body = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const [k, ...v] = line.split(':');
      if (/^status$/i.test(k)) status = Number(v.join(':').trim().split(' ')[0]);
      else res.setHeader(k, v.join(':').trim());
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  cgi.on('close', () => res.end());
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/config.git`;

// async: the HTTP server runs in this process and must keep answering while git fetches
async function cliFetch(gitdir) {
  await promisify(execFile)('git', ['-c', 'credential.helper=', 'fetch', '--quiet', '--no-tags', url, '+refs/heads/main:refs/remotes/origin/main'], {
    env: { ...env, GIT_DIR: gitdir, GIT_ASKPASS: ASKPASS, GIT_TERMINAL_PROMPT: '0', GITFAILOVER_GIT_USERNAME: USER, GITFAILOVER_GIT_PASSWORD: PASSWORD },
  });
}
async function isoFetch(gitdir) {
  await git.fetch({ fs, http, gitdir, url, ref: 'main', singleBranch: true, tags: false, onAuth: () => ({ username: USER, password: PASSWORD }) });
}
const time = async (f) => {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = { cli: { initial: [], oneFile: [] }, iso: { initial: [], oneFile: [] } };
for (let r = 0; r < ROUNDS; r++) {
  const a = join(dir, `cli-${r}.git`);
  const b = join(dir, `iso-${r}.git`);
  run(['init', '-q', '--bare', a]);
  await git.init({ fs, gitdir: b, bare: true, defaultBranch: 'main' });
  // isomorphic-git fetches only through a remote named in the repo's config (NodeRepo stores none)
  await git.addRemote({ fs, gitdir: b, remote: 'origin', url });
  results.cli.initial.push(await time(() => cliFetch(a)));
  results.iso.initial.push(await time(() => isoFetch(b)));
  // one user changed: what a partial sync fetches
  fs.appendFileSync(join(work, 'domains', `d${r}`, 'users', 'alice.yaml'), `# change ${r}\n`);
  run(['commit', '-q', '-am', `change ${r}`], work);
  run(['push', '-q', join(dir, 'srv', 'config.git'), 'main'], work);
  results.cli.oneFile.push(await time(() => cliFetch(a)));
  results.iso.oneFile.push(await time(() => isoFetch(b)));
}
server.close();
fs.rmSync(dir, { recursive: true, force: true });
const f = (xs) => `${median(xs).toFixed(0)} ms`;
console.log(`${DOMAINS} domains (${DOMAINS * 3} files), median of ${ROUNDS}, git ${execFileSync('git', ['--version']).toString().trim().split(' ')[2]}, isomorphic-git ${git.version()}, node ${process.version}`);
console.log('| fetch | git CLI | isomorphic-git |');
console.log('| --- | --- | --- |');
console.log(`| initial (empty clone) | ${f(results.cli.initial)} | ${f(results.iso.initial)} |`);
console.log(`| one changed file | ${f(results.cli.oneFile)} | ${f(results.iso.oneFile)} |`);
