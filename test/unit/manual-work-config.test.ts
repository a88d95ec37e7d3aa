import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/load-config.js';
import { noticesDue, taskWork } from '../../src/manual-work/manual-work.js';
import type { TaskRecord } from '../../src/ledger/ledger-types.js';

const HOUR_MS = 3_600_000;

describe('Manual work settings (config manualWork) and notice offsets', () => {
  it('is off when absent, and fills the vendors’ default due times and offsets when given', () => {
    expect(loadConfig({ cwd: '/tmp', env: {}, file: {} }).manualWork).to.equal(undefined);
    const config = loadConfig({
      cwd: '/tmp',
      env: {},
      file: {
        manualWork: { webhookUrl: 'https://hooks.example.net/x', assignees: { 'segment-space': 'privacy-team' } },
      },
    });
    expect(config.manualWork).to.deep.include({
      remindBeforeHours: [24],
      escalateAfterHours: [0, 48],
      webhookUrl: 'https://hooks.example.net/x',
      everyMs: 60_000,
    });
    expect(config.manualWork!.assignees).to.deep.equal({ default: 'on-call', 'segment-space': 'privacy-team' });
    expect(config.manualWork!.dueHours['aws-account']).to.equal(168);
  });

  it('refuses a bad SMTP setting or offset, naming the key', () => {
    let error: unknown;
    try {
      loadConfig({
        cwd: '/tmp',
        env: {},
        file: {
          manualWork: {
            smtp: { host: 'mail.example.net', port: 25, from: 'not-an-address', to: [] },
            remindBeforeHours: [-1],
          },
        },
      });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text)
      .to.include('manualWork.smtp.from')
      .and.include('manualWork.smtp.to')
      .and.include('manualWork.remindBeforeHours');
  });

  it('owes reminders only before the due time and escalations from their offsets after it', () => {
    const settings = loadConfig({
      cwd: '/tmp',
      env: {},
      file: {
        manualWork: {
          webhookUrl: 'https://hooks.example.net/x',
          remindBeforeHours: [24, 2],
          escalateAfterHours: [0, 48],
        },
      },
    }).manualWork!;
    const since = new Date('2026-11-01T00:00:00Z');
    const task = {
      id: 't1',
      requestId: 'r1',
      vendor: 'segment',
      action: 'request-source-deletion',
      evidence: {},
      updatedAt: since,
    } as unknown as TaskRecord;
    const item = taskWork(task, settings);
    expect(item).to.deep.include({ ref: 'task:t1:send', step: 'send', assignee: 'on-call' });
    const at = (h: number) => new Date(since.getTime() + h * HOUR_MS);
    expect(noticesDue(item, settings, at(47)).map((n) => n.stage)).to.deep.equal([]);
    expect(noticesDue(item, settings, at(48)).map((n) => n.stage)).to.deep.equal(['remind-24h']);
    expect(noticesDue(item, settings, at(71)).map((n) => n.stage)).to.deep.equal(['remind-24h', 'remind-2h']);
    expect(
      noticesDue(item, settings, at(72)).map((n) => n.stage),
      'no reminder once due',
    ).to.deep.equal(['escalate-0h']);
    expect(noticesDue(item, settings, at(120)).map((n) => n.stage)).to.deep.equal(['escalate-0h', 'escalate-48h']);
    const sent = taskWork({ ...task, evidence: { sent: { at: since.toISOString() } } }, settings);
    expect(sent.ref, 'the confirm step is its own piece of work').to.equal('task:t1:confirm');
  });
});
