import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TriggerDispatcher, type TriggerLogger } from '../../src/triggers/dispatcher.js';
import type { RecordConflictEvent, RecordFailedEvent, SyncEvent } from '../../src/triggers/events.js';
import { parseTriggers } from '../../src/triggers/schema.js';

interface Mail {
  from: string;
  to: string[];
  subject: string;
  body: string;
}

/** A real SMTP server on loopback (port 0: no clashes between parallel runs). */
class TestSmtp {
  mails: Mail[] = [];
  port = 0;
  private readonly server: SMTPServer;
  constructor(private readonly login?: { user: string; pass: string }) {
    this.server = this.create();
  }

  private create(): SMTPServer {
    return new SMTPServer({
      authOptional: this.login === undefined,
      allowInsecureAuth: true, // loopback only, no TLS in tests
      onAuth: (auth, _session, callback) => {
        if (this.login && auth.username === this.login.user && auth.password === this.login.pass)
          return callback(null, { user: auth.username });
        callback(new Error('invalid credentials'));
      },
      // no TLS certificate to trust in a test; the client is configured with starttls: false
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.mails.push(parseMail(Buffer.concat(chunks).toString('utf8'), session));
          callback();
        });
      },
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function parseMail(
  raw: string,
  session: { envelope: { mailFrom: false | { address: string }; rcptTo: { address: string }[] } },
): Mail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' '); // unfold long header lines
  let body = raw.slice(split + 4);
  // A body with control characters may go out base64-encoded: decoded, so that checking for them means something.
  if (/content-transfer-encoding:\s*base64/i.test(head)) body = Buffer.from(body, 'base64').toString('utf8');
  else if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    body = Buffer.from(
      body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
  const subject = /^subject: (.*)$/im.exec(head)?.[1] ?? '';
  return {
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    to: session.envelope.rcptTo.map((r) => r.address),
    subject,
    body: body.replace(/\r\n/g, '\n'),
  };
}

const quiet: TriggerLogger = { info: () => {}, warn: () => {}, error: () => {} };

const failedSync: SyncEvent = {
  event: 'sync',
  node: 'failover-1',
  time: '2024-05-01T10:00:00.000Z',
  success: false,
  mode: 'partial',
  fromCommit: '1111111111111111111111111111111111111111',
  toCommit: '2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e',
  commits: [{ id: '2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e', subject: 'acme: open port 2222', author: 'alice' }],
  domains: ['acme'],
  error: 'load command failed for domain acme: exit 3',
  errorCommit: '2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e',
  durationMs: 812,
};

describe('email action against a real SMTP server', () => {
  const smtp = new TestSmtp();
  beforeAll(() => smtp.start());
  afterAll(() => smtp.stop());
  afterEach(() => {
    smtp.mails = [];
  });

  const triggers = () =>
    parseTriggers([
      {
        on: 'sync',
        if: 'success == false',
        email: {
          to: ['ops@example.com', 'oncall@example.com'],
          from: 'gitfailover@failover-1.example.com',
          smtp: { host: '127.0.0.1', port: smtp.port, starttls: false, timeout: '5s' },
        },
      },
    ]);

  it('a failed sync sends exactly one e-mail naming the node, the commit and the error', async () => {
    const d = new TriggerDispatcher(triggers(), { logger: quiet });
    expect(d.fire(failedSync)).toEqual(['triggers[0]']);
    expect(await d.drain(10_000)).toBe(true);

    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.to).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(mail.from).toBe('gitfailover@failover-1.example.com');
    expect(mail.subject).toContain('failover-1');
    expect(mail.subject).toContain('2b3c4d5e');
    expect(mail.subject).toContain('load command failed for domain acme: exit 3');
    expect(mail.body).toContain('failover-1');
    expect(mail.body).toContain(failedSync.toCommit);
    expect(mail.body).toContain('load command failed for domain acme: exit 3');
    expect(mail.body).toContain('acme: open port 2222');
    expect(mail.body).toContain('gitfailover status');

    const [delivery] = d.deliveries();
    expect(delivery).toMatchObject({ id: 'triggers[0]', matched: 1, succeeded: 1, failed: 0 });
    expect(delivery!.actions[0]).toMatchObject({ action: 'email', ok: true, attempts: 1 });
  });

  it('names from the repo (files, domains, commit subjects, authors, problems) reach the body escaped, the lines of the template kept', async () => {
    const evil = 'x\u001b[2J\u001b[31mOWNED\u001b[0m\nSubject: forged.conf';
    const shown = 'x\\x1b[2J\\x1b[31mOWNED\\x1b[0m\\nSubject: forged.conf';
    const smtpAt = { host: '127.0.0.1', port: smtp.port, starttls: false, timeout: '5s' };
    const d = new TriggerDispatcher(
      parseTriggers([
        { on: 'sync', email: { to: 'ops@example.com', smtp: smtpAt } },
        { on: 'record.failed', email: { to: 'ops@example.com', smtp: smtpAt } },
        { on: 'record.conflict', email: { to: 'ops@example.com', smtp: smtpAt } },
        {
          on: 'substitution.unmapped',
          email: {
            to: 'ops@example.com',
            smtp: smtpAt,
            subject: 'unmapped {{ service }}',
            // an operator's own template: its own lines stay lines
            body: 'domain {{ domain }}\n\tservice {{ service }}\nip {{ ip }}\u0007\n',
          },
        },
      ]),
      { logger: quiet },
    );
    const sync: SyncEvent = {
      ...failedSync,
      commits: [{ id: failedSync.toCommit, subject: `add ${evil}`, author: 'mallory\u001b]0;pwned\u0007' }],
      error: `commit 2b3c4d5e6f70 is refused: domains/acme/${evil}: a name with a control character`,
      errorFile: `domains/acme/${evil}`,
    };
    const failed: RecordFailedEvent = {
      event: 'record.failed',
      node: 'prod-1',
      time: failedSync.time,
      error: 'recording refused',
      errorFile: `domains/acme/${evil}`,
      problems: [
        `domains/acme/${evil}: a name with a control character [E_UNSAFE_PATH]`,
        'domains/b/k: a private key [E_SECRET_IN_FILE]',
      ],
      problemsText: 'unused: rebuilt from problems',
    };
    const conflict: RecordConflictEvent = {
      event: 'record.conflict',
      node: 'prod-1',
      time: failedSync.time,
      files: [`domains/acme/${evil}`],
      branch: 'gitfailover/conflict/prod-1-20240501T100000Z',
      liveCommit: '3'.repeat(40),
      incomingCommit: '4'.repeat(40),
      incomingAuthor: 'mallory\u001b[8m',
      text: `conflict on prod-1: the live edit of domains/acme/${evil} does not merge`,
    };
    for (const e of [sync, failed, conflict]) d.fire(e);
    d.fire({
      event: 'substitution.unmapped',
      node: 'failover-1',
      time: failedSync.time,
      domain: 'newco',
      service: `sftp\u001b[2J\nip 10.1.0.6`,
      ip: '10.0.0.6',
      port: 22,
      unmapped: ['newco sftp 10.0.0.6:22'],
      unmappedCount: 1,
      toCommit: failedSync.toCommit,
    });
    expect(await d.drain(15_000)).toBe(true);
    expect(smtp.mails).toHaveLength(4);
    const [syncMail, failedMail, conflictMail, unmappedMail] = [
      'sync',
      'record.failed',
      'record.conflict',
      'unmapped',
    ].map(
      (what) =>
        smtp.mails.find((m) =>
          what === 'unmapped'
            ? m.subject.startsWith('unmapped')
            : m.body.includes(what === 'sync' ? 'could not apply' : what),
        )!,
    );
    for (const m of smtp.mails) {
      expect(m.body).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(m.body).not.toMatch(/^Subject: forged/m);
    }
    expect(syncMail!.body).toContain(`File at fault:    domains/acme/${shown}\n`);
    expect(syncMail!.body).toContain(`add ${shown}  (mallory\\x1b]0;pwned\\x07)`);
    expect(syncMail!.body).toContain(`Error:            commit 2b3c4d5e6f70 is refused: domains/acme/${shown}: a name`);
    expect(failedMail!.body).toContain(
      `  problemsText:   domains/acme/${shown}: a name with a control character [E_UNSAFE_PATH]\n  domains/b/k: a private key [E_SECRET_IN_FILE]`,
    );
    expect(conflictMail!.body).toContain(`files: domains/acme/${shown}`);
    expect(conflictMail!.body).toContain('incomingAuthor: mallory\\x1b[8m');
    expect(unmappedMail!.subject).toBe('unmapped sftp\\x1b[2J\\nip 10.1.0.6');
    expect(unmappedMail!.body).toBe('domain newco\n\tservice sftp\\x1b[2J\\nip 10.1.0.6\nip 10.0.0.6\\x07\n');
  });

  it('a successful sync with `if: success == false` sends none', async () => {
    const d = new TriggerDispatcher(triggers(), { logger: quiet });
    expect(d.fire({ ...failedSync, success: true, error: undefined, errorCommit: undefined })).toEqual([]);
    expect(await d.drain(5_000)).toBe(true);
    expect(smtp.mails).toHaveLength(0);
    expect(d.deliveries()[0]).toMatchObject({ matched: 0, succeeded: 0, failed: 0 });
  });

  it('a domain trigger fires only for events touching its domain', async () => {
    const domainTriggers = {
      acme: parseTriggers([
        {
          on: 'sync',
          email: { to: 'acme-team@example.com', smtp: { host: '127.0.0.1', port: smtp.port, starttls: false } },
        },
      ]),
      globex: parseTriggers([
        {
          on: 'sync',
          email: { to: 'globex-team@example.com', smtp: { host: '127.0.0.1', port: smtp.port, starttls: false } },
        },
      ]),
    };
    const d = new TriggerDispatcher([], { logger: quiet, domainTriggers });
    expect(d.fire(failedSync)).toEqual(['acme/triggers[0]']);
    await d.drain(10_000);
    expect(smtp.mails.map((m) => m.to)).toEqual([['acme-team@example.com']]);
  });

  it('`gitfailover triggers test` as a real process sends the e-mail and reports OK', async () => {
    // needs dist/ (npm test builds it first; or run: npx tsc -p tsconfig.build.json)
    const dir = mkdtempSync(join(tmpdir(), 'gitfailover-triggers-cli-'));
    try {
      const file = join(dir, 'gitfailover.yaml');
      writeFileSync(
        file,
        [
          'node: failover-7',
          'role: standby',
          'repo: { remote: /srv/git/mft-config.git, branch: main, stateDir: ./state }',
          'live: { dir: ./live }',
          'triggers:',
          '  - on: sync',
          '    if: success == false',
          '    email:',
          '      to: ops@example.com',
          `      smtp: { host: 127.0.0.1, port: ${smtp.port}, starttls: false, timeout: 5s }`,
          '',
        ].join('\n'),
      );
      const ok = await runCli([
        'triggers',
        'test',
        '-c',
        file,
        '--event',
        'sync',
        '--set',
        'success=false',
        '--set',
        'error=disk full on /opt',
      ]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^OK\s+triggers\[0\]\s+email ops@example.com: sent/m);
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]!.subject).toContain('failover-7');
      expect(smtp.mails[0]!.subject).toContain('disk full on /opt');

      // the condition is false for a successful sync: nothing sent, exit 1 with the reason
      const none = await runCli(['triggers', 'test', '-c', file, '--event', 'sync', '--set', 'success=true']);
      expect(none.code).toBe(1);
      expect(none.stdout).toMatch(/matched none of the 1 trigger/);
      expect(smtp.mails).toHaveLength(1);

      // an unknown event is a usage error
      const bad = await runCli(['triggers', 'test', '-c', file, '--event', 'sync.failed']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown event/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`triggers test` logs in with `pass: env:NAME` taken from the environment', async () => {
    const authed = new TestSmtp({ user: 'gitfailover', pass: 's3cret' });
    await authed.start();
    const dir = mkdtempSync(join(tmpdir(), 'gitfailover-triggers-cli-'));
    try {
      const file = join(dir, 'gitfailover.yaml');
      writeFileSync(
        file,
        [
          'node: failover-7',
          'role: standby',
          'repo: { remote: /srv/git/mft-config.git, stateDir: ./state }',
          'live: { dir: ./live }',
          'triggers:',
          '  - on: push.failed',
          '    email:',
          '      to: [ops@example.com]',
          `      smtp: { host: 127.0.0.1, port: ${authed.port}, starttls: false, user: gitfailover, pass: "env:TEST_SMTP_PASS" }`,
          '',
        ].join('\n'),
      );
      const wrong = await runCli(['triggers', 'test', '-c', file, '--event', 'push.failed'], {
        ...process.env,
        TEST_SMTP_PASS: 'wrong',
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toMatch(/^FAILED .*invalid credentials/m);
      const ok = await runCli(['triggers', 'test', '-c', file, '--event', 'push.failed', '--set', 'unpushed=4'], {
        ...process.env,
        TEST_SMTP_PASS: 's3cret',
      });
      expect(ok.stdout).toMatch(/^OK /m);
      expect(ok.code).toBe(0);
      expect(authed.mails).toHaveLength(1);
      expect(authed.mails[0]!.subject).toContain('4 commits not yet on the remote');
      const unset = await runCli(['triggers', 'test', '-c', file, '--event', 'push.failed'], {
        PATH: process.env.PATH,
      });
      expect(unset.code).toBe(2);
      expect(unset.stderr).toMatch(/TEST_SMTP_PASS is not set/);
    } finally {
      await authed.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`triggers test` reports FAILED with the reason when the SMTP server is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitfailover-triggers-cli-'));
    try {
      const down = new TestSmtp();
      await down.start();
      const port = down.port;
      await down.stop(); // a port that was just free: nothing listens there now
      const file = join(dir, 'gitfailover.yaml');
      writeFileSync(
        file,
        [
          'node: failover-7',
          'role: standby',
          'repo: { remote: /srv/git/mft-config.git, stateDir: ./state }',
          'live: { dir: ./live }',
          'triggers:',
          '  - on: sync',
          `    email: { to: ops@example.com, smtp: { host: 127.0.0.1, port: ${port}, starttls: false, timeout: 2s } }`,
          '',
        ].join('\n'),
      );
      const r = await runCli(['triggers', 'test', '-c', file]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^FAILED\s+triggers\[0\]\s+email ops@example.com: .*ECONNREFUSED/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('email action timeout', () => {
  it('a server that accepts but never greets fails the attempt within the timeout', async () => {
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    // accepts connections and says nothing, like a wedged mail relay
    const silent = createServer((sock) => held.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const d = new TriggerDispatcher(
        parseTriggers([
          {
            on: 'sync',
            email: { to: 'ops@example.com', smtp: { host: '127.0.0.1', port, starttls: false, timeout: '300ms' } },
            retries: 0,
          },
        ]),
        { logger: quiet },
      );
      const started = Date.now();
      d.fire(failedSync);
      expect(await d.drain(5_000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(d.deliveries()[0]!.lastFailure!.reason).toMatch(/e-mail to ops@example.com via 127.0.0.1:\d+ failed: /);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

const BIN = fileURLToPath(new URL('../../bin/gitfailover.js', import.meta.url));

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
