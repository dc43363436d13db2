/** The one masking rule of diffs shown to people lives in util/redact.ts; re-exported for the secrets code. */
export { maskSecretFields } from '../util/redact.js';
