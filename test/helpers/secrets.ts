import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cliOk, type Pair, type usePairs } from './fixture.js';

/** Change a node file in place through its parsed YAML. */
export function editNode(file: string, change: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(doc);
  writeFileSync(file, stringify(doc));
}

/** A pair whose primary declares keys/** and tls/*.pem as secrets, both nodes with an age identity. */
export async function securedPair(
  pair: ReturnType<typeof usePairs>,
): Promise<{ p: Pair; prodRecipient: string; failRecipient: string }> {
  const p = await pair({
    primary: { secrets: { files: ['keys/**', 'tls/*.pem'] } },
    standby: {},
  });
  editNode(p.primary, (d) => (d.secrets.identity = `file:${join(p.dir, 'prod.agekey')}`));
  editNode(p.standby, (d) => (d.secrets = { identity: `file:${join(p.dir, 'fail.agekey')}` }));
  const prodRecipient = (await cliOk(['keygen', '-c', p.primary])).stdout.trim();
  const failRecipient = (await cliOk(['keygen', '-c', p.standby])).stdout.trim();
  return { p, prodRecipient, failRecipient };
}
