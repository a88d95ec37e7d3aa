import { expect } from 'chai';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config-schema.js';
import { availableVendors, planTasks, UnplannableVendorError, type PlanInput } from '../../src/planner/plan-tasks.js';
import { taskId } from '../../src/connectors/pinpoint-connector.js';
import { buildRequestFlow, childJob, parentJobId, type TaskJobData } from '../../src/planner/build-flow.js';
import { resolveQueues } from '../../queues/registry.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { pinpointConnector } from '../../src/connectors/pinpoint-connector.js';
import { requestsQueue } from '../../queues/requests-queue.js';

const config: Config = loadConfig({
  env: {},
  file: { vendors: { pinpoint: { region: 'us-east-1', appIds: ['a1', 'a2'] } } },
});

const PERSON = { userId: 'user-4242', email: 'ann.lee@example.com', phone: '+15550004242' } as const;

function input(overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    requestId: 'req-7f3a',
    subject: { userId: PERSON.userId },
    vendors: ['pinpoint'],
    vendorsExplicit: true,
    ...overrides,
  };
}

/** Thrown error of `fn`, failing the test when it does not throw. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a throw');
}

describe('planning tasks', () => {
  describe('availableVendors', () => {
    it('lists pinpoint when it is configured', () => {
      expect(availableVendors(config)).to.deep.equal(['pinpoint']);
    });

    it('lists no vendor when none is configured', () => {
      expect(availableVendors(loadConfig({ env: {} }))).to.deep.equal([]);
    });
  });

  describe('planTasks', () => {
    it('plans one pinpoint task per app for a subject with a userId', () => {
      const tasks = planTasks(input(), config);
      expect(tasks).to.have.length(2);
      expect(tasks.map((t) => t.resource)).to.deep.equal(['app/a1', 'app/a2']);
      for (const task of tasks) {
        expect(task.vendor).to.equal('pinpoint');
        expect(task.action).to.equal('delete-user-endpoints');
        expect(task.jobName).to.equal('delete-user-endpoints');
        expect(task.queue).to.equal(pinpointQueue.name);
        expect(pinpointConnector.queue.jobNames).to.include(task.jobName);
        expect(task.initialState).to.equal(undefined);
      }
    });

    it('plans the same task ids for the same input', () => {
      const first = planTasks(input(), config).map((t) => t.id);
      const again = planTasks(input(), config).map((t) => t.id);
      const other = planTasks(input({ subject: { userId: 'someone-else' } }), config).map((t) => t.id);
      expect(again).to.deep.equal(first);
      // Ids depend on the request and resource, never on who the person is.
      expect(other).to.deep.equal(first);
    });

    it('gives every task of a request its own id, and other requests other ids', () => {
      const ids = planTasks(input(), config).map((t) => t.id);
      expect(new Set(ids).size).to.equal(ids.length);
      const elsewhere = planTasks(input({ requestId: 'req-7f3b' }), config).map((t) => t.id);
      for (const id of elsewhere) expect(ids).to.not.include(id);
    });

    it('makes ids BullMQ accepts: no colon, never numeric', () => {
      for (const requestId of ['req-7f3a', '12345', '0']) {
        for (const { id } of planTasks(input({ requestId }), config)) {
          expect(id).to.not.include(':');
          expect(id).to.not.match(/^\d+$/);
          expect(Number.isNaN(Number(id)), `${id} reads as a number`).to.equal(true);
        }
      }
    });

    it('puts no identifier of the person in task ids (Invariant 1)', () => {
      const tasks = planTasks(input({ subject: { ...PERSON } }), config);
      for (const { id } of tasks) {
        for (const value of Object.values(PERSON)) expect(id).to.not.include(value);
        expect(id).to.not.include('4242');
        expect(id).to.not.include('ann');
      }
    });

    it('refuses Pinpoint named explicitly for an e-mail only when no address scan is configured', () => {
      const err = thrown(() => planTasks(input({ subject: { email: PERSON.email }, vendorsExplicit: true }), config));
      expect(err).to.be.instanceOf(UnplannableVendorError);
      expect((err as UnplannableVendorError).vendor).to.equal('pinpoint');
      expect(err.name).to.equal('UnplannableVendorError');
      expect(err.message)
        .to.match(/^pinpoint: /)
        .and.include('userId')
        .and.include('addressScan');
      expect(err.message).to.not.include(PERSON.email);
    });

    it('skips, with a reason, Pinpoint included by default for an e-mail only when no address scan is configured', () => {
      const tasks = planTasks(input({ subject: { email: PERSON.email }, vendorsExplicit: false }), config);
      expect(tasks).to.have.length(2);
      for (const task of tasks) {
        expect(task.initialState).to.equal('skipped');
        expect(task.waitingReason).to.be.a('string').and.include('addressScan');
        expect(task.waitingReason).to.not.include(PERSON.email);
      }
    });

    describe('with an address scan configured', () => {
      const scanning: Config = loadConfig({
        env: {},
        file: {
          vendors: {
            pinpoint: {
              region: 'us-east-1',
              appIds: ['a1', 'a2'],
              addressScan: { bucket: 'exports-bucket', roleArn: 'arn:aws:iam::1:role/export' },
            },
            s3: {
              region: 'us-east-1',
              locations: [{ bucket: 'imports-bucket', prefix: 'segments/' }, { bucket: 'legacy-bucket' }],
            },
          },
        },
      });

      it('plans a find-endpoint task per app for an e-mail only, and for a phone only', () => {
        for (const subject of [{ email: PERSON.email }, { phone: PERSON.phone }]) {
          const tasks = planTasks(input({ subject }), scanning);
          expect(tasks.map((t) => [t.action, t.resource, t.jobName, t.queue])).to.deep.equal([
            ['find-endpoint', 'app/a1', 'find-endpoint', pinpointQueue.name],
            ['find-endpoint', 'app/a2', 'find-endpoint', pinpointQueue.name],
          ]);
          for (const task of tasks) expect(task.initialState).to.equal(undefined);
        }
      });

      it('plans both the user-id deletion and the address scan when both are known', () => {
        const tasks = planTasks(input({ subject: { ...PERSON } }), scanning);
        expect(tasks.map((t) => `${t.action} ${t.resource}`)).to.deep.equal([
          'delete-user-endpoints app/a1',
          'find-endpoint app/a1',
          'delete-user-endpoints app/a2',
          'find-endpoint app/a2',
        ]);
        expect(new Set(tasks.map((t) => t.id)).size).to.equal(4);
        for (const { id } of tasks) for (const value of Object.values(PERSON)) expect(id).to.not.include(value);
      });

      it('plans one purge-s3-prefix task per configured S3 location, for any of e-mail, phone or user id', () => {
        const tasks = planTasks(input({ subject: { phone: PERSON.phone }, vendors: ['s3'] }), scanning);
        expect(tasks.map((t) => [t.vendor, t.action, t.resource, t.queue])).to.deep.equal([
          ['s3', 'purge-s3-prefix', 'location/imports-bucket/segments/', 's3'],
          ['s3', 'purge-s3-prefix', 'location/legacy-bucket/', 's3'],
        ]);
      });

      it('refuses S3 named explicitly for an install id only, and skips it when included by default', () => {
        const subject = { installId: '00000000-0000-4000-8000-000000000001' };
        const err = thrown(() => planTasks(input({ subject, vendors: ['s3'], vendorsExplicit: true }), scanning));
        expect(err).to.be.instanceOf(UnplannableVendorError);
        expect(err.message).to.match(/^s3: /);
        const skipped = planTasks(input({ subject, vendors: ['s3'], vendorsExplicit: false }), scanning);
        expect(skipped.map((t) => t.initialState)).to.deep.equal(['skipped', 'skipped']);
      });
    });

    it('gives skipped tasks the same ids they would have had', () => {
      const planned = planTasks(input(), config).map((t) => t.id);
      const skipped = planTasks(input({ subject: { phone: PERSON.phone }, vendorsExplicit: false }), config).map(
        (t) => t.id,
      );
      expect(skipped).to.deep.equal(planned);
    });

    it('refuses pinpoint when it is not configured', () => {
      const err = thrown(() => planTasks(input(), loadConfig({ env: {} })));
      expect(err).to.be.instanceOf(UnplannableVendorError);
      expect(err.message).to.include('not configured');
    });

    it('plans nothing for no vendors', () => {
      expect(planTasks(input({ vendors: [] }), config)).to.deep.equal([]);
    });
  });

  describe('taskId', () => {
    it('hashes the resource rather than spelling it out', () => {
      const id = taskId('req-1', 'pinpoint', 'delete-user-endpoints', 'app/a1');
      expect(id).to.match(/^req-1__pinpoint__delete-user-endpoints__[0-9a-f]{12}$/);
      expect(id).to.not.include('app/a1');
    });

    it('differs for each of request, vendor, action and resource', () => {
      const ids = [
        taskId('req-1', 'pinpoint', 'delete-user-endpoints', 'app/a1'),
        taskId('req-2', 'pinpoint', 'delete-user-endpoints', 'app/a1'),
        taskId('req-1', 's3', 'delete-user-endpoints', 'app/a1'),
        taskId('req-1', 'pinpoint', 'delete-endpoint', 'app/a1'),
        taskId('req-1', 'pinpoint', 'delete-user-endpoints', 'app/a2'),
      ];
      expect(new Set(ids).size).to.equal(ids.length);
    });
  });
});

describe('building a request flow', () => {
  const queues = resolveQueues(config);
  const requestId = 'req-7f3a';
  const tasks = planTasks(input({ requestId }), config);

  it('puts one parent in the requests queue with the id `${requestId}__request`', () => {
    const flow = buildRequestFlow(requestId, tasks, queues);
    expect(flow.queueName).to.equal(requestsQueue.name);
    expect(flow.name).to.equal('finalize-request');
    expect(requestsQueue.jobNames).to.include(flow.name);
    expect(flow.opts?.jobId).to.equal(`${requestId}__request`);
    expect(parentJobId(requestId)).to.equal(`${requestId}__request`);
    expect(flow.data).to.deep.equal({ requestId });
  });

  it('makes one child per task, with the task id as job id', () => {
    const flow = buildRequestFlow(requestId, tasks, queues);
    expect(flow.children).to.have.length(tasks.length);
    flow.children!.forEach((child, i) => {
      expect(child.opts?.jobId).to.equal(tasks[i].id);
      expect(child.queueName).to.equal(tasks[i].queue);
      expect(child.name).to.equal(tasks[i].jobName);
    });
  });

  it('gives every child a failure policy, so a failed child never strands the parent (Invariant 6)', () => {
    const flow = buildRequestFlow(requestId, tasks, queues);
    expect(flow.children).to.not.be.empty;
    for (const child of flow.children!) {
      expect(child.opts?.ignoreDependencyOnFailure).to.equal(true);
      expect(child.opts?.failParentOnFailure).to.equal(undefined);
    }
  });

  it('puts only the request id and task id in child data (Invariant 1)', () => {
    const flow = buildRequestFlow(requestId, tasks, queues);
    flow.children!.forEach((child, i) => {
      const expected: TaskJobData = { requestId, taskId: tasks[i].id };
      expect(child.data).to.deep.equal(expected);
    });
    const serialised = JSON.stringify(flow);
    for (const value of Object.values(PERSON)) expect(serialised).to.not.include(value);
  });

  it('carries each queue’s retention and retry defaults on parent and children', () => {
    const flow = buildRequestFlow(requestId, tasks, queues);
    for (const opts of [flow.opts!, ...flow.children!.map((c) => c.opts!)]) {
      expect(opts.removeOnComplete).to.deep.include({ age: config.jobs.retention.completedAgeSeconds });
      expect(opts.removeOnFail).to.deep.include({ age: config.jobs.retention.failedAgeSeconds });
      expect(opts.attempts).to.equal(config.jobs.attempts);
    }
  });

  it('delays children, and only children, when a grace period is given', () => {
    const flow = buildRequestFlow(requestId, tasks, queues, 60_000);
    for (const child of flow.children!) expect(child.opts?.delay).to.equal(60_000);
    expect(flow.opts?.delay).to.equal(undefined);
    for (const child of buildRequestFlow(requestId, tasks, queues).children!)
      expect(child.opts?.delay).to.equal(undefined);
  });

  it('builds the same flow for the same request', () => {
    expect(buildRequestFlow(requestId, tasks, queues)).to.deep.equal(buildRequestFlow(requestId, tasks, queues));
  });

  describe('childJob', () => {
    const task = { id: 't-1', queue: 'pinpoint', jobName: 'delete-user-endpoints', requestId };

    it("sets failParentOnFailure for 'fail-parent'", () => {
      const child = childJob(task, 'fail-parent', {});
      expect(child.opts?.failParentOnFailure).to.equal(true);
      expect(child.opts?.ignoreDependencyOnFailure).to.equal(undefined);
      expect(child.opts?.jobId).to.equal('t-1');
    });

    it("sets ignoreDependencyOnFailure for 'ignore'", () => {
      const child = childJob(task, 'ignore', {});
      expect(child.opts?.ignoreDependencyOnFailure).to.equal(true);
      expect(child.opts?.failParentOnFailure).to.equal(undefined);
    });

    it('lets neither the defaults override the job id nor the failure policy', () => {
      const child = childJob(task, 'fail-parent', { jobId: 'other', failParentOnFailure: false, attempts: 3 });
      expect(child.opts?.jobId).to.equal('t-1');
      expect(child.opts?.failParentOnFailure).to.equal(true);
      expect(child.opts?.attempts).to.equal(3);
    });
  });
});
