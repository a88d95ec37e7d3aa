import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createReceiptSigner, verifySignature } from '../../src/receipts/receipt-signer.js';
import { ScopeDeletionLedger } from '../../src/ledger/scope-deletion-ledger.js';
import { requestGuidedDeletion } from '../../src/scope-deletions/scope-deletions.js';
import { manualWorkSettings } from '../../src/manual-work/manual-work-settings.js';
import { countOverdueManualWork, sweepManualWork } from '../../src/manual-work/manual-work-notices.js';
import { smtpNotifier, webhookNotifier } from '../../src/manual-work/notifiers.js';
import { startTestService, type TestService } from '../support/test-service.js';

const HOUR_MS = 3_600_000;
/** The person's identifiers, which no notice may carry. */
const PERSON = { userId: 'user-51', email: 'user51@example.com', phone: '+15550000051' };

/** Issue 19, item 3 (acceptance 3): reminders and escalations reach a webhook receiver and a real SMTP server at the configured offsets. */
describe('Reminders and escalations of manual work (signed webhook, SMTP)', function () {
  this.timeout(60_000);
  let service: TestService;
  let smtp: SMTPServer;
  let smtpPort: number;
  let hook: http.Server;
  let hookUrl: string;
  const mails: string[] = [];
  const hooks: Array<{ body: string; signature: string }> = [];

  before(async () => {
    service = await startTestService({ roles: { api: true, workers: [] } });
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      onData(stream, _session, callback) {
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => (text += d));
        stream.on('end', () => {
          mails.push(text);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpPort = (smtp.server.address() as AddressInfo).port;
    hook = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        hooks.push({ body, signature: String(req.headers['x-erasure-signature'] ?? '') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/manual-work`;
  });
  after(async () => {
    await new Promise<void>((resolve) => {
      smtp?.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) =>
      hook?.close(() => {
        resolve();
      }),
    );
    await service?.close();
  });

  it('sends each reminder and escalation once, at its offset, to both notifiers, signed, without an identifier of a person', async () => {
    const settings = manualWorkSettings({
      assignees: { default: 'on-call', 'request-source-deletion': 'privacy-team' },
      dueHours: { default: 72, 'segment-space': 24 },
      remindBeforeHours: [24],
      escalateAfterHours: [0, 48],
      webhookUrl: hookUrl,
      smtp: {
        host: '127.0.0.1',
        port: smtpPort,
        from: 'erasure@example.net',
        to: ['oncall@example.net'],
        escalateTo: ['lead@example.net'],
      },
    });
    const signer = createReceiptSigner(Buffer.alloc(32, 7));
    const notifiers = [
      webhookNotifier(hookUrl, { signer, policy: { allowPrivateNetworks: true, allowedHosts: [] }, timeoutMs: 5000 }),
      smtpNotifier(settings.smtp!),
    ];

    // A request waiting on a manual Segment step, for a person with every kind of identifier.
    const requestId = randomUUID();
    const taskId = `${requestId}__segment__manual`;
    await service.ledger.requests.createRequest({
      id: requestId,
      regulation: 'gdpr',
      vendors: ['segment'],
      subject: PERSON,
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 30 * 24 * HOUR_MS),
      tasks: [
        {
          id: taskId,
          vendor: 'segment',
          resource: 'workspace/acme',
          action: 'request-source-deletion',
          queue: 'segment',
          jobName: 'manual',
          initialState: 'waiting_manual',
          waitingReason: 'e-mail Segment',
        },
      ],
      actor: 'test',
    });
    await service.ledger.requests.markEnqueued(requestId);
    const waitingSince = (await service.ledger.tasks.getTask(taskId))!.updatedAt;
    // A drafted Segment space deletion on the ledger's clock, due 24 hours after it was drafted.
    let clock = waitingSince;
    const scopes = new ScopeDeletionLedger(service.db, () => clock);
    const space = await requestGuidedDeletion(scopes, {
      kind: 'segment-space',
      fields: { workspaceSlug: 'acme-prod', space: 'Marketing EU' },
      confirmScope: 'acme-prod',
      reason: 'retired',
      actor: 'token:oncall',
    });

    const deps = {
      db: service.db,
      ledger: service.ledger,
      scopeDeletions: scopes,
      settings,
      notifiers,
      logger: service.logger,
    };
    const at = (hours: number) => new Date(waitingSince.getTime() + hours * HOUR_MS);
    const sweep = async (hours: number) =>
      (await sweepManualWork(deps, at(hours))).map((s) => `${s.ref.split(':')[0]}:${s.stage}`).sort();

    expect(
      await sweep(1),
      'the space deletion is due at 24 h: its reminder 24 h before; the task is not due for a while',
    ).to.deep.equal(['scope:remind-24h']);
    expect(await sweep(10), 'nothing new').to.deep.equal([]);
    expect(await sweep(25), 'the space deletion is past due').to.deep.equal(['scope:escalate-0h']);
    expect(await sweep(49), 'the task is due at 72 h: reminder from 48 h').to.deep.equal(['task:remind-24h']);
    expect(await sweep(49), 'each notice goes out once').to.deep.equal([]);
    expect(await sweep(73)).to.deep.equal(['scope:escalate-48h', 'task:escalate-0h']);
    expect(await countOverdueManualWork(deps, at(73))).to.equal(2);
    expect(await sweep(121)).to.deep.equal(['task:escalate-48h']);
    clock = at(121);

    expect(hooks).to.have.length(6);
    expect(mails).to.have.length(6);
    const bodies = hooks.map((h) => JSON.parse(h.body));
    for (const h of hooks)
      expect(verifySignature(signer.publicKeyPem, h.body, h.signature), 'signed like a status callback').to.equal(true);
    expect(bodies.find((b) => b.stage === 'remind-24h' && b.work === 'request-task')).to.deep.include({
      type: 'manual_work.reminder',
      id: taskId,
      requestId,
      assignee: 'privacy-team',
      step: 'send',
      overdue: false,
      link: `/admin/requests/${requestId}`,
    });
    expect(bodies.find((b) => b.stage === 'escalate-0h' && b.work === 'scope-deletion')).to.deep.include({
      type: 'manual_work.escalation',
      id: space.id,
      kind: 'segment-space',
      assignee: 'on-call',
      overdue: true,
    });
    const escalationMail = mails.find((m) => /Escalation: request-source-deletion/.test(m))!;
    expect(escalationMail).to.match(/^To: .*oncall@example\.net.*lead@example\.net/m);
    expect(mails.find((m) => /Reminder: request-source-deletion/.test(m))).to.match(/^To: oncall@example\.net\s*$/m);
    for (const text of [...hooks.map((h) => h.body), ...mails]) {
      for (const value of Object.values(PERSON))
        expect(text, 'no identifier of a person in any notice').not.to.include(value);
    }
  });
});
