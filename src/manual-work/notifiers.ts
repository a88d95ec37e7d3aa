import nodemailer from 'nodemailer';
import type { CallbackPolicy } from '../callbacks/callback-target.js';
import { postCallback } from '../callbacks/post-callback.js';
import type { ReceiptSigner } from '../receipts/receipt-signer.js';
import type { ManualWorkNotice } from './manual-work.js';
import type { ManualWorkSettings } from './manual-work-settings.js';

/** Sends one notice; throws when it could not (the sweep then tries again next time). */
export interface Notifier {
  name: string;
  send(notice: ManualWorkNotice): Promise<void>;
}

/**
 * A signed webhook: the body signed like a status callback (`X-Erasure-Signature`, Ed25519 with the
 * receipt key; jobs/deliver-callback.ts) and posted through the same private-network guard.
 */
export function webhookNotifier(
  url: string,
  deps: { signer: ReceiptSigner; policy: CallbackPolicy; timeoutMs: number },
): Notifier {
  return {
    name: 'webhook',
    async send(notice) {
      const body = Buffer.from(JSON.stringify(notice));
      await postCallback(
        url,
        body,
        { 'X-Erasure-Signature': deps.signer.sign(body.toString('utf8')), 'X-Erasure-Key-Id': deps.signer.keyId },
        { policy: deps.policy, timeoutMs: deps.timeoutMs },
      );
    },
  };
}

/** E-mail over SMTP (nodemailer): reminders to `to`, escalations to `to` and `escalateTo`. */
export function smtpNotifier(smtp: NonNullable<ManualWorkSettings['smtp']>): Notifier {
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ...(smtp.secure ? {} : { ignoreTLS: true }),
  });
  return {
    name: 'smtp',
    async send(notice) {
      const escalation = notice.type === 'manual_work.escalation';
      const what = `${notice.kind} (${notice.vendor}), step ${notice.step}`;
      await transport.sendMail({
        from: smtp.from,
        to: escalation ? [...smtp.to, ...smtp.escalateTo] : smtp.to,
        subject: `[erasure] ${escalation ? 'Escalation' : 'Reminder'}: ${what} ${notice.overdue ? 'is overdue' : 'is due'} ${notice.dueAt}`,
        text: [
          `${escalation ? 'Escalation' : 'Reminder'} (${notice.stage}) for ${notice.assignee}:`,
          '',
          `Work: ${notice.work} ${notice.id}${notice.requestId ? ` of request ${notice.requestId}` : ''}`,
          `What: ${what}`,
          `Due: ${notice.dueAt}${notice.overdue ? ' (overdue)' : ''}`,
          `Where: the admin page, ${notice.link}`,
        ].join('\n'),
      });
    },
  };
}
