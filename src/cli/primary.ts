import type { Command } from 'commander';
export function registerPrimaryCommands(_program: Command): void {}
