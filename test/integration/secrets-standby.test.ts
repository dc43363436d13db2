import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, cliOk, git, snapshot, usePairs, writeDomain, writeFile, type Pair } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';
import { editNode, securedPair } from '../helpers/secrets.js';

// One of the secrets-*.test.ts files: standbys that cannot open a secret, and rekeying.
/**
 * Declared secrets end to end with the real CLI, real git remotes and the real `age` binary:
 * recorded as age ciphertext, never in clear in any object store, opened by the standbys that are
 * recipients and refused, with the live dir untouched, by those that are not.
 */
const pair = usePairs();
/** Each test runs the CLI a few dozen times: room for a loaded machine (no timing is asserted). */
const LONG = 300_000;

/** A third node: a standby of its own (live dir, state dir, identity) on the same remote. */
function thirdNode(p: Pair, name: string, identity = true): { file: string; live: string } {
  const live = join(p.dir, `${name}-live`);
  mkdirSync(live, { recursive: true });
  const file = join(p.dir, `${name}.yaml`);
  writeFile(
    file,
    stringify({
      node: name,
      role: 'standby',
      repo: { remote: p.remote, stateDir: join(p.dir, `${name}-state`) },
      live: { dir: live },
      ...(identity ? { secrets: { identity: `file:${join(p.dir, `${name}.agekey`)}` } } : {}),
    }),
  );
  return { file, live };
}

describe.skipIf(!requireSystem(['age']).ok)('declared secrets', () => {
  it(
    'a standby that cannot open a secret refuses the sync, live dir byte-identical, event fired',
    async () => {
      const { p, prodRecipient, failRecipient } = await securedPair(pair);
      await cliOk(['secrets', 'add-recipient', 'prod-1', prodRecipient, '-c', p.primary]);
      await cliOk(['secrets', 'add-recipient', 'failover-1', failRecipient, '-c', p.primary]);
      writeDomain(p.prodLive, 'acme', { users: ['alice'] });
      await cliOk(['record', '-c', p.primary]);
      // A standby without an identity, with a sync trigger that writes the event down.
      const lone = thirdNode(p, 'failover-2', false);
      const events = join(p.dir, 'events.txt');
      editNode(
        lone.file,
        (d) =>
          (d.triggers = [
            {
              on: 'sync',
              exec: [
                '/bin/sh',
                '-c',
                'printf "%s|%s|%s\\n" "$GITFAILOVER_SUCCESS" "$GITFAILOVER_ERROR_FILE" "$GITFAILOVER_ERROR" >> "$0"',
                events,
              ],
            },
          ]),
      );
      await cliOk(['sync', '-c', lone.file]);
      const before = snapshot(lone.live);

      writeFile(join(p.prodLive, 'keys/host.key'), 'very secret host key bytes\n');
      writeDomain(p.prodLive, 'beta');
      await cliOk(['record', '-c', p.primary]);
      const r = await cli(['sync', '-c', lone.file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('keys/host.key.age');
      expect(r.stderr).toMatch(/secrets\.identity/);
      expect(snapshot(lone.live)).toEqual(before);
      const fired = readFileSync(events, 'utf8').trim().split('\n').pop()!;
      expect(fired).toMatch(/^false\|keys\/host\.key\.age\|/);

      // With an identity that is not a recipient: refused the same way, naming what to do.
      editNode(lone.file, (d) => (d.secrets = { identity: `file:${join(p.dir, 'failover-2.agekey')}` }));
      await cliOk(['keygen', '-c', lone.file]);
      const r2 = await cli(['sync', '-c', lone.file]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toContain('keys/host.key.age');
      expect(r2.stderr).toContain('secrets add-recipient failover-2');
      expect(snapshot(lone.live)).toEqual(before);

      // An identity file others can read is refused too.
      chmodSync(join(p.dir, 'failover-2.agekey'), 0o644);
      const r3 = await cli(['sync', '-c', lone.file]);
      expect(r3.code).toBe(1);
      expect(r3.stderr).toMatch(/chmod 600/);
    },
    LONG,
  );

  it(
    'rekey: a node added as recipient syncs the secrets; removed, it cannot open new commits',
    async () => {
      const { p, prodRecipient, failRecipient } = await securedPair(pair);
      await cliOk(['secrets', 'add-recipient', 'prod-1', prodRecipient, '-c', p.primary]);
      await cliOk(['secrets', 'add-recipient', 'failover-1', failRecipient, '-c', p.primary]);
      writeDomain(p.prodLive, 'acme');
      writeFile(join(p.prodLive, 'keys/host.key'), 'first host key\n');
      await cliOk(['record', '-c', p.primary]);

      const third = thirdNode(p, 'failover-3');
      const thirdRecipient = (await cliOk(['keygen', '-c', third.file])).stdout.trim();
      await cliOk(['secrets', 'add-recipient', 'failover-3', thirdRecipient, '-c', p.primary]);
      // Listed, but the secrets were encrypted before: not readable until the rekey.
      expect((await cli(['sync', '-c', third.file])).code).toBe(1);
      const rk = await cliOk(['secrets', 'rekey', '-c', p.primary]);
      expect(rk.stdout).toContain('recipients +failover-3');
      const body = await git(['log', '-1', '--format=%B', 'main'], p.remote);
      expect(body).toContain('Recipients added: failover-3');
      expect(body).toContain('Secret-Recipients: failover-1, failover-3, prod-1');
      await cliOk(['sync', '-c', third.file]);
      expect(readFileSync(join(third.live, 'keys/host.key'), 'utf8')).toBe('first host key\n');
      // The rekey changed no plaintext: the next record has nothing to do.
      expect((await cliOk(['record', '-c', p.primary])).stdout).toContain('no change');

      await cliOk(['secrets', 'remove-recipient', 'failover-3', '-c', p.primary]);
      const rk2 = await cliOk(['secrets', 'rekey', '-c', p.primary]);
      expect(rk2.stdout).toContain('recipients -failover-3');
      writeFileSync(join(p.prodLive, 'keys/host.key'), 'second host key\n');
      await cliOk(['record', '-c', p.primary]);
      const r = await cli(['sync', '-c', third.file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('keys/host.key.age');
      expect(readFileSync(join(third.live, 'keys/host.key'), 'utf8')).toBe('first host key\n');
      await cliOk(['sync', '-c', p.standby]);
      expect(readFileSync(join(p.failLive, 'keys/host.key'), 'utf8')).toBe('second host key\n');
    },
    LONG,
  );
});
