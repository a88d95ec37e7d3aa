import { expect } from 'chai';
import {
  FINAL_REQUEST_STATUSES,
  SETTLED_TASK_STATES,
  TASK_STATES,
  TERMINAL_TASK_STATES,
  type TaskState,
} from '../../src/ledger/ledger-types.js';
import {
  REQUEST_TRANSITIONS,
  TASK_TRANSITIONS,
  checkTaskTarget,
  edgesOf,
  requestGuard,
  taskGuard,
} from '../../src/ledger/task-transitions.js';

describe('The task and request transition tables (src/ledger/task-transitions.ts)', () => {
  const taskEdges = edgesOf(TASK_TRANSITIONS);
  const requestEdges = edgesOf(REQUEST_TRANSITIONS);

  it('lets nothing leave a settled task state, and a failed task only by a retry, an operator’s skip or resolve, or its job running again', () => {
    expect(taskEdges.filter(([from]) => SETTLED_TASK_STATES.includes(from))).to.deep.equal([]);
    expect(taskEdges.filter(([from]) => from === 'failed')).to.have.deep.members([
      ['failed', 'running'],
      ['failed', 'queued'],
      ['failed', 'skipped'],
      ['failed', 'succeeded'],
    ]);
  });

  it('lets every open task state reach an end, so no task can be stranded by the table', () => {
    const reachesEnd = new Set<TaskState>(TERMINAL_TASK_STATES);
    for (let changed = true; changed;) {
      changed = false;
      for (const [from, to] of taskEdges) {
        if (reachesEnd.has(to) && !reachesEnd.has(from)) {
          reachesEnd.add(from);
          changed = true;
        }
      }
    }
    expect(TASK_STATES.filter((s) => !reachesEnd.has(s))).to.deep.equal([]);
  });

  it('lets nothing leave a cancelled request, and a settled one only by reopening', () => {
    expect(requestEdges.filter(([from]) => from === 'cancelled')).to.deep.equal([]);
    for (const [from, to] of requestEdges.filter(([from]) => FINAL_REQUEST_STATUSES.includes(from)))
      expect([from, to]).to.satisfy(([, t]: string[]) => t === 'in_progress');
    expect(REQUEST_TRANSITIONS.settle.from.filter((s) => FINAL_REQUEST_STATUSES.includes(s))).to.deep.equal([]);
  });

  it('derives each write’s SQL guard from the table', () => {
    expect(taskGuard('finish')).to.equal(`state IN ('running')`);
    expect(taskGuard('begin', 't.state')).to.equal(
      `t.state IN ('queued', 'running', 'waiting_vendor', 'rate_limited', 'failed')`,
    );
    expect(requestGuard('reopen', 'old.status')).to.equal(
      `old.status IN ('received', 'scheduled', 'completed', 'completed_with_errors', 'failed')`,
    );
  });

  it('refuses a write to a state its transition does not lead to', () => {
    expect(() => {
      checkTaskTarget('finish', 'cancelled');
    }).to.throw('task transition finish cannot lead to cancelled');
    expect(() => {
      checkTaskTarget('defer', 'waiting_vendor');
    }).to.not.throw();
  });
});
