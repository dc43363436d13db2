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
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    // starttls unset: nodemailer upgrades when the server offers STARTTLS
    requireTLS: smtp.starttls === true,
    ignoreTLS: smtp.starttls === false,
    auth: smtp.user !== undefined ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
    connectionTimeout: attempt.timeoutMs,
    greetingTimeout: attempt.timeoutMs,
    socketTimeout: attempt.timeoutMs,
  });
  // nodemailer has no AbortSignal: closing the transport ends a send stuck past our deadline
  const abort = () => transport.close();
  attempt.signal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, attempt.timeoutMs);
  try {
    const info = await transport.sendMail({
      from: action.from ?? `gitfailover <gitfailover@${hostname()}>`,
      to: action.to,
      subject,
      text: body,
      headers: { 'X-Gitfailover-Event': attempt.event.event },
    });
    if (info.rejected.length > 0) {
      throw new GitfailoverError('E_EMAIL', `SMTP server ${smtp.host}:${smtp.port} rejected ${info.rejected.join(', ')}`, { kind: 'waiting' });
    }
    return `sent to ${action.to.join(', ')} via ${smtp.host}:${smtp.port}`;
  } catch (err) {
    if (err instanceof GitfailoverError) throw err;
    const reason = attempt.signal.aborted ? 'cancelled at shutdown' : errorMessage(err);
    throw new GitfailoverError('E_EMAIL', `e-mail to ${action.to.join(', ')} via ${smtp.host}:${smtp.port} failed: ${reason}`, {
      kind: 'waiting',
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    attempt.signal.removeEventListener('abort', abort);
    transport.close();
  }
}
