import type { Command } from 'commander';
export function registerStandbyCommands(_program: Command): void {}
