/** `<path>.age` in the repo is the ciphertext of `<path>` in a live dir (no imports: the model uses it). */
export const SECRET_SUFFIX = '.age';

export function isSecretPath(repoPath: string): boolean {
  return (
    repoPath.endsWith(SECRET_SUFFIX) &&
    repoPath.length > SECRET_SUFFIX.length &&
    !repoPath.endsWith(`/${SECRET_SUFFIX}`)
  );
}

/** `keys/host.key.age` -> `keys/host.key` */
export function plainPathOf(repoPath: string): string {
  return repoPath.slice(0, -SECRET_SUFFIX.length);
}
