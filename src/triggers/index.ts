/** The triggers module's public face: events in, deliveries out. */
export {
  TriggerDispatcher,
  stderrLogger,
  type DispatcherOptions,
  type TriggerDelivery,
  type ActionOutcome,
  type TriggerLogger,
} from './dispatcher.js';
export {
  EVENT_NAMES,
  EVENT_VARIABLES,
  eventEnvironment,
  flattenVariables,
  isEventName,
  sampleEvent,
  type EventName,
  type TriggerEvent,
  type SyncEvent,
  type SyncDisabledEvent,
  type SyncRecoveredEvent,
  type PushFailedEvent,
  type DriftEvent,
  type LagEvent,
  type RoleEvent,
  type SplitBrainEvent,
  type CommitInfo,
  type Variables,
} from './events.js';
export { parseCondition, evaluate, unknownVariables, type Condition } from './condition.js';
export {
  triggerSchema,
  triggersSchema,
  triggersFileSchema,
  parseTriggers,
  parseTriggersFile,
  loadTriggersFile,
  triggerWarnings,
  type Trigger,
} from './schema.js';
export { loadDomainTriggers } from './domains.js';
export { renderEmail } from './template.js';
