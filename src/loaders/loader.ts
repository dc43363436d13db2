/**
 * How a domain gets into a server. sync.ts drives a Loader through one apply:
 *   prepare -> validate (nothing live yet; may refuse the whole sync) -> deleteDomain/writeGlobal/
 *   writeDomain (the live dir) -> activate (make the server read it: reload, wait until it serves)
 *   -> finish.
 * FilesLoader is the default (files only; commands.* do the rest); the ProFTPD loader adds the
 * server's own files, `proftpd -t`, a bind check and SIGHUP.
 */
export interface LoaderContext {
  node: string;
  commit: string;
  /** Start (serve) the domains loaded by this apply: sync.startAfterSync or `sync --start`. */
  start: boolean;
  log?: (line: string) => void;
}

/** What an apply is about to do, for a loader's validate hook: domain -> rendered files. */
export interface LoaderChange {
  load: ReadonlyMap<string, ReadonlyMap<string, Buffer>>;
  delete: readonly string[];
  /** Files outside the domains this apply writes (path relative to the live dir), secrets opened. */
  globals?: ReadonlyMap<string, Buffer>;
}

export interface Loader {
  readonly liveDir: string;
  readonly domainsDir: string;
  /** Clear what an interrupted apply left behind; remember what this apply is. */
  prepare(ctx: LoaderContext): void;
  domainDir(domain: string): string;
  /** Names of the domains the live dir has. */
  liveDomains(): string[];
  /** `files`: path relative to the domain folder -> bytes, already rendered (IPs substituted). */
  writeDomain(domain: string, files: ReadonlyMap<string, Buffer>): void;
  /**
   * Optional: build a domain ahead of the apply, nothing live changing, while the sync still
   * checks the rest; a writeDomain() with the same `files` object then only swaps it in.
   * Returns true when the loader kept all it needs (the build, or a live folder already holding
   * those bytes): the caller may then drop the bytes, and must hand the same Map to writeDomain().
   */
  stage?(domain: string, files: ReadonlyMap<string, Buffer>): boolean;
  /** Drop every stage() build: the sync was refused. */
  discardStaged?(): void;
  deleteDomain(domain: string): void;
  writeGlobal(path: string, content: Buffer): void;
  removeGlobal(path: string): void;
  finish(): void;
  /** Refuse the change before anything goes live (the server's own syntax check, ports in use). */
  validate?(change: LoaderChange, ctx: LoaderContext): Promise<void>;
  /** After the apply wrote everything: make the server use it (reload) and wait until it serves. */
  activate?(ctx: LoaderContext): Promise<void>;
  /** Serve every loaded but stopped domain (`sync --start` with nothing new to apply; promote). */
  startAll?(ctx: LoaderContext): Promise<string[]>;
  /** Stop serving every served domain, keeping its configuration (demote). */
  stopAll?(ctx: LoaderContext): Promise<string[]>;
}
