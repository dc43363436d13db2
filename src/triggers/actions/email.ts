import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import { GitfailoverError, errorMessage } from '../../errors.js';
import type { EmailAction } from '../schema.js';
import { renderEmail } from '../template.js';
import type { ActionAttempt, ActionResult } from './types.js';

/** Send the event's e-mail over SMTP (nodemailer), one connection per message. */
export async function sendEmail(action: EmailAction, attempt: ActionAttempt): ActionResult {
  const { smtp } = action;
  const { subject, body } = renderEmail(attempt.event, action);
  const transport = smtpTransport(smtp, attempt.timeoutMs);
  // nodemailer has no AbortSignal and its timeouts bound each phase, not the whole send: race
  // a deadline (the abandoned connection still ends at its socketTimeout)
  let timer: NodeJS.Timeout | undefined;
  let abort = () => {};
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${attempt.timeoutMs}ms`)), attempt.timeoutMs);
    abort = () => reject(new Error('cancelled at shutdown'));
    if (attempt.signal.aborted) abort();
    else attempt.signal.addEventListener('abort', abort, { once: true });
  });
  try {
    const send = transport.sendMail({
      from: action.from ?? `gitfailover <gitfailover@${hostname()}>`,
      to: action.to,
      subject,
      text: body,
      headers: { 'X-Gitfailover-Event': attempt.event.event },
    });
    send.catch(() => {}); // when the deadline wins, a later rejection is expected and ignored
    const info = await Promise.race([send, deadline]);
    if (info.rejected.length > 0) {
      throw new GitfailoverError(
        'E_EMAIL',
        `SMTP server ${smtp.host}:${smtp.port} rejected ${info.rejected.join(', ')}`,
        { kind: 'waiting' },
      );
    }
    return `sent to ${action.to.join(', ')} via ${smtp.host}:${smtp.port}`;
  } catch (err) {
    if (err instanceof GitfailoverError) throw err;
    const reason = errorMessage(err);
    throw new GitfailoverError(
      'E_EMAIL',
      `e-mail to ${action.to.join(', ')} via ${smtp.host}:${smtp.port} failed: ${reason}`,
      {
        kind: 'waiting',
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    attempt.signal.removeEventListener('abort', abort);
    transport.close();
  }
}

/** The SMTP transport of an e-mail action (also used by `doctor` to check the server). */
export function smtpTransport(smtp: EmailAction['smtp'], timeoutMs: number) {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    // starttls unset: nodemailer upgrades when the server offers STARTTLS
    requireTLS: smtp.starttls === true,
    ignoreTLS: smtp.starttls === false,
    auth: smtp.user !== undefined ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
}
