import { expect } from 'chai';
import { loadConfig, ConfigError } from '../../src/config/load-config.js';
import { registerVendor } from '../../src/service.js';
import { verifyReceipt } from '../../src/receipts/receipt.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { startToySimulator, type ToySimulator } from './toy-simulator.js';
import { toyConnector, toySandboxPlugin } from './toy-connector.js';

/**
 * The vendor plug-in point (README "Adding a vendor"): a vendor defined entirely in this folder
 * (connector, client, processor, simulator), added with one `registerVendor` call and no change to
 * src/, jobs/ or queues/, validates its settings with its own schema and erases a person through
 * the real service: API, planner, queue, worker, ledger and receipt.
 */
describe('A toy vendor registered with one call', function () {
  this.timeout(60_000);
  let simulator: ToySimulator;
  let unregister: () => void;

  before(async () => {
    simulator = await startToySimulator({ sandbox: ['toy-user-1', 'toy-user-2', 'someone-else'] });
    unregister = registerVendor(toyConnector, toySandboxPlugin(simulator));
  });
  after(async () => {
    unregister();
    await simulator.close();
  });

  describe('config', () => {
    const file = (toy: Record<string, unknown>) => ({ vendors: { toy } });

    it('reads vendors.toy with the connector’s own keys and fills its queue defaults', () => {
      const config = loadConfig({ env: {}, file: file({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', space: 'main' }) });
      expect(config.sandboxMode).to.equal(false);
      expect(config.vendors.toy).to.deep.equal({
        ...toyConnector.queueDefaults,
        baseUrl: 'http://127.0.0.1:1',
        apiKey: 'k',
        space: 'main',
      });
    });

    it('refuses settings the toy connector’s keys refuse, naming the key', () => {
      const bad = () =>
        loadConfig({ env: {}, file: file({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', space: 'Not A Space' }) });
      expect(bad).to.throw(ConfigError, /vendors\.toy\.space/);
      expect(() => loadConfig({ env: {}, file: file({ baseUrl: 'http://127.0.0.1:1', space: 'main' }) })).to.throw(
        ConfigError,
        /vendors\.toy\.apiKey/,
      );
    });

    it('knows the toy vendor only while it is registered', () => {
      unregister();
      try {
        expect(() =>
          loadConfig({ env: {}, file: file({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', space: 'main' }) }),
        ).to.throw(ConfigError, /vendors\.toy/);
      } finally {
        unregister = registerVendor(toyConnector, toySandboxPlugin(simulator));
      }
    });
  });

  describe('through the service', () => {
    let service: TestService;
    before(async () => {
      service = await startTestService();
    });
    after(async () => service?.close());

    async function erase(userId: string): Promise<string> {
      const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['toy'] } });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      const id = res.body.id as string;
      await service.waitForRequest(id, 30_000);
      return id;
    }

    it('has a queue for the toy vendor, with the connector’s job names', () => {
      const toy = service.queues.definitions.find((q) => q.name === 'toy');
      expect(toy?.jobNames).to.deep.equal(['toy-forget-person']);
      expect(toy?.concurrency).to.equal(toyConnector.queueDefaults.concurrency);
    });

    it('erases a person at the toy vendor: the request completes and its signed receipt shows the read-back', async () => {
      const id = await erase('toy-user-1');
      expect(simulator.spaces.get('sandbox')!.has('toy-user-1')).to.equal(false);
      expect(simulator.spaces.get('sandbox')!.has('someone-else'), 'nobody else').to.equal(true);
      const view = await service.api(`/v1/requests/${id}`);
      expect(view.body.status).to.equal('completed');
      const receipt = await service.api(`/v1/requests/${id}/receipt`);
      expect(receipt.status).to.equal(200);
      expect(receipt.body.receipt.status).to.equal('completed');
      const [task] = receipt.body.receipt.tasks as Array<{
        vendor: string;
        state: string;
        verification: string;
        evidence: Record<string, unknown>;
      }>;
      expect(task).to.deep.include({ vendor: 'toy', state: 'succeeded', verification: 'verified_absent' });
      expect(task.evidence).to.deep.include({ space: 'sandbox', removed: true });
      expect(JSON.stringify(receipt.body), 'no identifier of the person in the receipt').not.to.include('toy-user-1');
      expect(verifyReceipt(receipt.body)).to.deep.equal({ valid: true, problems: [] });
    });

    it('records a person the toy vendor never held as not_found, read back in a space that exists', async () => {
      const id = await erase('never-there');
      const receipt = await service.api(`/v1/requests/${id}/receipt`);
      const [task] = receipt.body.receipt.tasks as Array<{ state: string; verification: string }>;
      expect(task).to.deep.include({ state: 'not_found', verification: 'verified_absent' });
      expect(simulator.calls).to.include('GET space');
    });
  });
});
