/**
 * Where a path of the config repo belongs in the default layout (DESIGN.md):
 *   server.yaml, domains/<d>/domain.yaml, services.yaml, triggers.yaml, users/<u>.yaml,
 *   .gitfailover/** (repo metadata, never copied to a live dir), anything else verbatim.
 */
export type PathClass =
  | { kind: 'meta'; path: string }
  | { kind: 'server'; path: string }
  | { kind: 'global'; path: string }
  | {
      kind: 'domain';
      path: string;
      domain: string;
      file: 'domain' | 'services' | 'triggers' | 'user' | 'other';
      rel: string;
      user?: string;
    };

export const META_DIR = '.gitfailover';
/**
 * Repo-only paths: they live in the config repo (metadata, the CI workflow, the repo's README)
 * and are never copied into a live dir nor removed from the repo by a record of the live dir.
 */
export const REPO_ONLY = [META_DIR, '.github', 'README.md'] as const;
export const DEFAULT_DOMAINS_DIR = 'domains';

/** `domains/*` (the node file's live.domains) -> `domains` */
export function domainsDirOf(glob: string): string {
  return glob.replace(/\/\*$/, '');
}

export function classifyPath(path: string, domainsDir: string = DEFAULT_DOMAINS_DIR): PathClass {
  for (const p of REPO_ONLY) if (path === p || path.startsWith(`${p}/`)) return { kind: 'meta', path };
  if (path === 'server.yaml') return { kind: 'server', path };
  const prefix = `${domainsDir}/`;
  if (!path.startsWith(prefix)) return { kind: 'global', path };
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return { kind: 'global', path }; // a file directly in domains/
  const domain = rest.slice(0, slash);
  const rel = rest.slice(slash + 1);
  if (rel === 'domain.yaml') return { kind: 'domain', path, domain, rel, file: 'domain' };
  if (rel === 'services.yaml') return { kind: 'domain', path, domain, rel, file: 'services' };
  if (rel === 'triggers.yaml') return { kind: 'domain', path, domain, rel, file: 'triggers' };
  const user = /^users\/([^/]+)\.yaml$/.exec(rel);
  if (user) return { kind: 'domain', path, domain, rel, file: 'user', user: user[1]! };
  return { kind: 'domain', path, domain, rel, file: 'other' };
}

/** The domain a path belongs to, if any. */
export function domainOf(path: string, domainsDir: string = DEFAULT_DOMAINS_DIR): string | undefined {
  const c = classifyPath(path, domainsDir);
  return c.kind === 'domain' ? c.domain : undefined;
}

/** A name usable as one path segment everywhere (domain and user names). */
export const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export function isSafeSegment(name: string): boolean {
  return SAFE_SEGMENT.test(name) && name !== '.' && name !== '..' && !name.includes('..');
}
