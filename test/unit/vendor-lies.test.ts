import { expect } from 'chai';
import express from 'express';
import { listen, type ListeningServer } from '../../src/sandbox/vendor-http.js';
import { createAppCenterClient } from '../../src/vendors/appcenter-client.js';
import { withAppCenterDefaults } from '../../src/vendors/appcenter-settings.js';
import { createObjectStoreClient } from '../../src/vendors/s3-client.js';
import { PermanentVendorError } from '../../src/vendors/vendor-errors.js';

/** Vendor answers that lie or break (issue 8): each is detected and fails clearly, never "nothing found". */
describe('Vendor answers that never end', () => {
  let server: ListeningServer;
  afterEach(async () => server?.close());

  it('stops an App Center listing whose nextLink comes back again (a page loop)', async () => {
    const app = express();
    app.get(/.*/, (_req, res) =>
      res.json({
        values: [{ name: 'generic-audience', definition: 'x' }],
        nextLink: '/v0.1/apps/o/a/analytics/audiences?$skiptoken=same',
      }),
    );
    server = await listen(app);
    const client = createAppCenterClient(
      withAppCenterDefaults({
        rateLimit: { max: 1000, durationMs: 1000 },
        concurrency: 1,
        throttleDelayMs: 10,
        baseUrl: server.url,
        apiToken: 't',
        owner: 'o',
        apps: ['a'],
      }),
    );
    const err = await client.listAudiences('a').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentVendorError);
    expect((err as Error).message).to.equal(
      'appcenter Analytics_ListAudiences returned the same nextLink twice (a page loop) (PageLoop)',
    );
  });

  it('stops an S3 listing that hands back a continuation token it already gave', async () => {
    const app = express();
    app.get(/.*/, (_req, res) => {
      res
        .type('application/xml')
        .send(
          '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>' +
            '<IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>',
        );
    });
    server = await listen(app);
    const client = createObjectStoreClient({
      region: 'us-east-1',
      endpoint: server.url,
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      throttleDelayMs: 10,
    });
    const keys: string[] = [];
    const err = await (async () => {
      for await (const k of client.listKeys('b', '')) keys.push(k.key);
    })().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentVendorError);
    expect((err as Error).message).to.include('a listing that never ends');
    expect(keys.length, 'it stopped after the repeat, not later').to.be.at.most(3);
  });
});
