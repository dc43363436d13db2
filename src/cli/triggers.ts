import type { Command } from 'commander';
export function registerTriggersCommands(_program: Command): void {}
