import { expect } from 'chai';
import express from 'express';
import { PinpointServiceException } from '@aws-sdk/client-pinpoint';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { listen, type ListeningServer } from '../../src/sandbox/vendor-http.js';
import { toVendorError as pinpointError } from '../../src/vendors/pinpoint-client.js';
import { createObjectStoreClient, toS3Error } from '../../src/vendors/s3-client.js';
import { toVendorError as appCenterError } from '../../src/vendors/appcenter-client.js';
import {
  checkedVendorCode,
  PermanentVendorError,
  TransientVendorError,
  RateLimitedError,
  UNRECOGNISED_ERROR,
  VENDOR_ERROR_CODE,
} from '../../src/vendors/vendor-errors.js';
import { printable, printableJson } from '../../src/privacy/printable-text.js';

const HOSTILE = [
  'NoSuchUser-user-42',
  'Code user42@example.com',
  '\u001b]0;title\u0007\u001b[2J',
  'A'.repeat(65),
  'x\u202eevil',
  '42',
  '',
  ' NoSuchKey',
];

describe('One pattern for every vendor error code (issue 25, item 3)', () => {
  it('keeps a code with the shape and turns anything else into unrecognised_error', () => {
    for (const code of [
      'NoSuchKey',
      'BadRequestException',
      'ERR_NON_2XX_3XX_RESPONSE',
      'ECONNRESET',
      'TooManyRequests',
    ]) {
      expect(VENDOR_ERROR_CODE.test(code), code).to.equal(true);
      expect(checkedVendorCode(code)).to.equal(code);
    }
    for (const code of HOSTILE.filter((c) => c !== ''))
      expect(checkedVendorCode(code), JSON.stringify(code)).to.equal(UNRECOGNISED_ERROR);
    expect(checkedVendorCode(''), 'no code').to.equal(undefined);
    expect(checkedVendorCode(42), 'not a string').to.equal(UNRECOGNISED_ERROR);
    expect(checkedVendorCode('AccessDenied,NoSuchUser-user-42,InternalError')).to.equal(
      `AccessDenied,${UNRECOGNISED_ERROR},InternalError`,
    );
  });

  it('checks the code in every error constructor, so no client can pass one unchecked', () => {
    const details = {
      vendor: 'pinpoint' as const,
      operation: 'GetUserEndpoints',
      status: 400,
      code: 'NoSuchUser-user-42',
    };
    for (const err of [
      new PermanentVendorError(details),
      new TransientVendorError(details),
      new RateLimitedError(details, 10),
    ]) {
      expect(err.details.code).to.equal(UNRECOGNISED_ERROR);
      expect(err.message).to.include('unrecognised_error').and.not.include('user-42');
    }
  });

  it("checks AWS err.name from Pinpoint and S3, and App Center's code", () => {
    for (const name of HOSTILE.filter((c) => c !== '')) {
      const metadata = {
        $metadata: { httpStatusCode: 400 },
        $fault: 'client' as const,
        message: `about ${name} user-42`,
      };
      const pinpoint = pinpointError('GetUserEndpoints', new PinpointServiceException({ name, ...metadata }), 10);
      const s3 = toS3Error('s3', 'GetObject', new S3ServiceException({ name, ...metadata }), 10);
      const appcenter = appCenterError('Push_DeleteInstallId', 400, name, undefined, 10);
      for (const err of [pinpoint, s3, appcenter]) {
        expect(err.details.code, JSON.stringify(name)).to.equal(UNRECOGNISED_ERROR);
        expect(err.message).to.not.include('user-42');
      }
    }
    // A network error's name too (it is the only thing taken from it).
    const network = pinpointError(
      'GetUserEndpoints',
      Object.assign(new Error('connect to user-42'), { name: 'Reset-user-42' }),
      10,
    );
    expect(network.details.code).to.equal(UNRECOGNISED_ERROR);
  });

  describe("DeleteObjects' per-key Code", () => {
    let server: ListeningServer;
    afterEach(async () => server?.close());

    it('checks each key\u2019s Code before it joins the error', async () => {
      const app = express();
      app.post(/.*/, (_req, res) => {
        res
          .type('application/xml')
          .send(
            '<?xml version="1.0" encoding="UTF-8"?><DeleteResult>' +
              '<Error><Key>k1</Key><Code>AccessDenied-user-42</Code><Message>user-42 may not</Message></Error>' +
              '<Error><Key>k2</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>',
          );
      });
      server = await listen(app);
      const client = createObjectStoreClient({
        region: 'us-east-1',
        endpoint: server.url,
        forcePathStyle: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        throttleDelayMs: 1,
      });
      const err = await client.deleteVersions('b', [{ key: 'k1' }, { key: 'k2' }]).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TransientVendorError);
      expect((err as TransientVendorError).details.code).to.equal(`AccessDenied,${UNRECOGNISED_ERROR}`);
      expect((err as Error).message).to.not.include('user-42');
    });
  });
});

describe('printable: what the CLI, the logs and the admin page print', () => {
  it('strips C0 and C1 controls but new line and tab, and makes bidi controls visible', () => {
    expect(printable('a\u001b]0;title\u0007b\u001b[2Jc')).to.equal('a]0;titleb[2Jc');
    expect(printable('line 1\nline\t2\r')).to.equal('line 1\nline\t2');
    expect(printable('x\u0085\u009by\u007f')).to.equal('xy');
    expect(printable('abc\u202edef\u2066g\u2069')).to.equal('abc<U+202E>def<U+2066>g<U+2069>');
    expect(printable('Zoë 用户 😀')).to.equal('Zoë 用户 😀');
  });

  it('writes JSON that parses to the same value, with no raw C1 or bidi character', () => {
    const value = { a: 'x\u001b\u0085\u202ey', b: ['\u2066'] };
    const text = printableJson(value, 2);
    // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
    expect(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text)).to.equal(false);
    expect(JSON.parse(text)).to.deep.equal(value);
  });
});
