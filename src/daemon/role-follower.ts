import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { effectiveRole, roleSource } from '../node-state/role-state.js';
import type { Logger } from './log.js';
import { PrimaryDaemon } from './primary.js';

/**
 * Lets the standby agent follow `promote`/`demote` without a restart: while the node's effective
 * role (stateDir/role.json over the node file) is primary, it runs the primary daemon in-process
 * (watch, record in production's terms, push) instead of syncing; after a demote it stops it.
 */
export class RoleFollower {
  private primary?: PrimaryDaemon;
  private switching?: Promise<void>;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly log: Logger,
  ) {}

  /** True while the node acts as primary (the caller then does not sync). */
  get actingAsPrimary(): boolean {
    return this.primary !== undefined;
  }

  async check(): Promise<boolean> {
    await this.switching;
    const role = effectiveRole(this.cfg);
    if (role === 'primary' && !this.primary) {
      this.switching = this.becomePrimary();
      await this.switching;
    } else if (role === 'standby' && this.primary) {
      this.switching = this.becomeStandby();
      await this.switching;
    }
    return this.primary !== undefined;
  }

  async stop(): Promise<void> {
    await this.switching;
    await this.primary?.stop();
    this.primary = undefined;
  }

  private async becomePrimary(): Promise<void> {
    this.log.warn(
      `promoted (${roleSource(this.cfg)}): switching to primary behaviour: recording ${this.cfg.live.dir}, no more syncs`,
    );
    const daemon = new PrimaryDaemon(this.cfg, { out: (l) => this.log.info(l), err: (l) => this.log.error(l) });
    this.primary = daemon;
    try {
      await daemon.start();
    } catch (err) {
      this.log.error(`cannot act as primary: ${errorMessage(err)}`);
      await daemon.stop().catch(() => {});
      // Stay out of the sync path anyway: a promoted node's live dir must not be overwritten.
    }
  }

  private async becomeStandby(): Promise<void> {
    this.log.warn(`demoted (${roleSource(this.cfg)}): stopping the primary behaviour, syncing again`);
    await this.primary?.stop();
    this.primary = undefined;
  }
}
