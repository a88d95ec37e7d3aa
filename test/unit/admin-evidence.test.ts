import { expect } from 'chai';
import type { RequestRecord, TaskRecord } from '../../src/ledger/ledger-types.js';
import type { ViewContext } from '../../src/dashboard/admin-views.js';
import { requestPage } from '../../src/dashboard/admin-request-page.js';

const NOW = new Date('2026-12-01T12:00:00Z');

const request: RequestRecord = {
  id: '11111111-2222-4333-8444-555555555555',
  kind: 'erasure',
  regulation: 'gdpr',
  status: 'completed',
  vendors: ['segment'],
  client: 'portal',
  subjectHash: 'ab'.repeat(32),
  callbackUrl: null,
  origin: 'native',
  submittedAt: NOW,
  dueAt: new Date(NOW.getTime() + 30 * 86_400_000),
  notBefore: null,
  finishedAt: NOW,
  createdAt: NOW,
  updatedAt: NOW,
};

/** A Segment task's evidence as jobs/segment-poll-regulation.ts records it: strings, a list of objects, a list of names. */
const segmentTask: TaskRecord = {
  id: 'task-segment-1',
  requestId: request.id,
  vendor: 'segment',
  resource: 'workspace/acme',
  action: 'regulate-user',
  queue: 'segment',
  jobName: 'segment-regulate-user',
  state: 'succeeded',
  attempts: 1,
  evidence: {
    batchId: 'b-1',
    regulateId: 'reg-42',
    overallStatus: 'PARTIAL_SUCCESS',
    destinations: [
      { name: 'Amplitude', id: 'd-1', status: 'FINISHED', sourceId: 's-1' },
      { name: 'Braze', id: 'd-2', status: 'FAILED', sourceId: 's-1' },
    ],
    failedDestinations: ['Braze'],
    partial: true,
    members: 3,
    coverage: 'regulation-wide',
    note: 'typed by a person',
  },
  error: null,
  waitingReason: null,
  nextActionAt: null,
  startedAt: NOW,
  finishedAt: NOW,
  updatedAt: NOW,
};

const ctx: ViewContext = {
  principal: { name: 'on-call', role: 'operator' },
  csrf: 'c'.repeat(32),
  canOperate: true,
  canSubmit: true,
  staff: true,
  clients: [],
  now: NOW,
};

function evidenceCell(page: string): string {
  const row = page.slice(page.indexOf('data-task="task-segment-1"'));
  const start = row.indexOf('<ul class="evidence">');
  expect(start, 'the evidence cell holds a list').to.be.greaterThan(-1);
  return row
    .slice(start, row.indexOf('</td>', start))
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ');
}

describe('The admin request view of task evidence', () => {
  it('shows evidence that is a string, a list or an object readably instead of a dash', () => {
    const cell = evidenceCell(requestPage(ctx, { request, tasks: [segmentTask], trail: [] }));
    expect(cell).to.include('regulateId reg-42');
    expect(cell).to.include('overallStatus PARTIAL_SUCCESS');
    expect(cell).to.include('failedDestinations Braze');
    expect(cell).to.include('partial yes');
    expect(cell).to.include('members 3');
    expect(cell).to.match(
      /destinations .*name: Amplitude, id: d-1, status: FINISHED, sourceId: s-1.*name: Braze, id: d-2, status: FAILED/,
    );
    expect(cell, 'free text a person typed stays in the ledger').not.to.include('typed by a person');
  });

  it('escapes evidence values and bounds long lists', () => {
    const task: TaskRecord = {
      ...segmentTask,
      evidence: {
        reason: '<b>x</b>',
        names: Array.from({ length: 30 }, (_, i) => `n${i}`),
        nested: { a: { b: { c: { d: 1 } } } },
      },
    };
    const page = requestPage(ctx, { request, tasks: [task], trail: [] });
    expect(page).to.include('&lt;b&gt;x&lt;/b&gt;').and.not.to.include('<b>x</b>');
    const cell = evidenceCell(page);
    expect(cell).to.include('n19').and.not.to.include('n20,');
    expect(cell).to.include('and 10 more');
    expect(cell).to.include('a: b: c: …');
  });
});
