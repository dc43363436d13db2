import type { RecordConflictEvent } from '../triggers/events.js';
import type { ConflictRecord } from './conflicts.js';

/** The `record.conflict` event of a conflict incoming.ts kept on a branch. */
export function conflictEvent(node: string, c: ConflictRecord): RecordConflictEvent {
  return {
    event: 'record.conflict',
    node,
    time: c.time,
    files: c.files.map((f) => f.path),
    branch: c.branch,
    liveCommit: c.liveCommit,
    incomingCommit: c.incomingCommit,
    incomingAuthor: c.incomingAuthor,
    text: c.text,
  };
}
