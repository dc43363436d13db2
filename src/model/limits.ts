/** 1 MiB: configuration files of an MFT server are a few KB; certificates, keys and logs belong elsewhere. */
export const DEFAULT_MAX_FILE_SIZE = 1024 * 1024;
/** 10,000 domains of 20 users each are 220,000 files: twice that leaves room. */
export const DEFAULT_MAX_FILES = 500_000;
