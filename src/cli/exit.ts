import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../errors.js';

export { EXIT_OK, EXIT_FAILED, EXIT_USAGE };

/** Thrown by a command to end with a given exit code after it has printed its own output. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
