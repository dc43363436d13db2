import type { Command } from 'commander';
import { escapeControl } from '../util/escape.js';
import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import type { CheckResult } from '../doctor/checks.js';
import { EXIT_FAILED, Exit } from './exit.js';

/** `gitfailover doctor [-c FILE]`: one line per check, the fix on the next line when it failed; exit 1 if any failed. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      "check this node's set-up: node file, git, remote and credentials, branch, state dir, commands, listener, SMTP, IP substitution, signatures",
    )
    .option('-c, --config <file>', 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)')
    .action(async (o: { config?: string }) => {
      const { loadNodeFile, nodeFilePath } = await import('../config/load.js');
      const {
        commands,
        gitVersion,
        notifyChecks,
        plaintextSecrets,
        remoteAndBranch,
        runningNodeFile,
        signaturesCheck,
        smtpChecks,
        stateDir,
        substitutionCheck,
      } = await import('../doctor/checks.js');
      const results: CheckResult[] = [];
      const print = (r: CheckResult) => {
        results.push(r);
        // Details quote repo content (file names, service names): control characters escaped.
        process.stdout.write(`${r.warn ? 'warn' : r.ok ? 'ok  ' : 'FAIL'}  ${r.name}: ${escapeControl(r.detail)}\n`);
        if (!r.ok && r.fix) process.stdout.write(`      fix: ${escapeControl(r.fix)}\n`);
      };
      let cfg: NodeConfig | undefined;
      try {
        cfg = loadNodeFile({ file: o.config });
        print({ name: 'node file', ok: true, detail: `${cfg.file}: node ${cfg.node}, role ${cfg.role}` });
      } catch (err) {
        print({
          name: 'node file',
          ok: false,
          detail: errorMessage(err),
          fix: `fix ${nodeFilePath({ file: o.config })} (see schema/node-file.schema.json); the other checks need it`,
        });
      }
      print(await gitVersion());
      if (cfg) {
        // The slow network checks run side by side; their lines print in a fixed order.
        const [remote, notify, smtp, subst] = await Promise.all([
          remoteAndBranch(cfg),
          notifyChecks(cfg),
          smtpChecks(cfg),
          cfg.role === 'standby' ? substitutionCheck(cfg) : Promise.resolve(undefined),
        ]);
        // After the others: it fetches into the clone the substitution check reads.
        const signatures = await signaturesCheck(cfg);
        for (const r of [
          ...plaintextSecrets(cfg),
          ...remote,
          ...stateDir(cfg),
          ...commands(cfg),
          ...notify,
          ...smtp,
          ...(subst ? [subst] : []),
          ...signatures,
          runningNodeFile(cfg),
        ])
          print(r);
      }
      const failed = results.filter((r) => !r.ok && !r.warn).length;
      process.stdout.write(
        failed === 0 ? `all ${results.length} checks passed\n` : `${failed} of ${results.length} checks failed\n`,
      );
      if (failed > 0) throw new Exit(EXIT_FAILED);
    });
}
