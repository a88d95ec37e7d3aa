import { expect } from 'chai';
import { UnrecoverableError } from 'bullmq';
import {
  classifyHttpFailure,
  MisconfiguredVendorError,
  scopeMissing,
  isVendorError,
  parseRetryAfter,
  PermanentVendorError,
  RateLimitedError,
  TransientVendorError,
  type ClassifyOptions,
} from '../../src/vendors/vendor-errors.js';

const base = {
  vendor: 'pinpoint',
  operation: 'DeleteUserEndpoints',
  defaultThrottleDelayMs: 1500,
} as const satisfies Partial<ClassifyOptions>;

describe('vendor errors', () => {
  describe('classifyHttpFailure', () => {
    describe('throttling', () => {
      it('turns a 429 with a hint into RateLimitedError waiting the hinted delay', () => {
        const err = classifyHttpFailure({ ...base, status: 429, retryAfterMs: 7000 });
        expect(err).to.be.instanceOf(RateLimitedError);
        expect((err as RateLimitedError).retryAfterMs).to.equal(7000);
        expect(err.name).to.equal('RateLimitedError');
      });

      it('turns a 429 without a hint into RateLimitedError waiting the default delay', () => {
        const err = classifyHttpFailure({ ...base, status: 429 });
        expect(err).to.be.instanceOf(RateLimitedError);
        expect((err as RateLimitedError).retryAfterMs).to.equal(1500);
      });

      it('honours a hint of zero rather than replacing it with the default', () => {
        const err = classifyHttpFailure({ ...base, status: 429, retryAfterMs: 0 });
        expect((err as RateLimitedError).retryAfterMs).to.equal(0);
      });

      for (const code of ['TooManyRequestsException', 'SlowDown', 'ThrottlingException']) {
        it(`treats the ${code} code as throttling whatever the status`, () => {
          for (const status of [400, 503, undefined]) {
            const err = classifyHttpFailure({ ...base, status, code });
            expect(err, `status ${status}`).to.be.instanceOf(RateLimitedError);
            expect((err as RateLimitedError).retryAfterMs).to.equal(1500);
          }
        });
      }

      it('is not unrecoverable, so BullMQ may run the job again', () => {
        expect(classifyHttpFailure({ ...base, status: 429 })).to.not.be.instanceOf(UnrecoverableError);
      });
    });

    describe('transient failures', () => {
      for (const status of [500, 502, 503, 504, 408, undefined]) {
        it(`turns ${status === undefined ? 'an answer without a status (timeout, reset)' : `a ${status}`} into TransientVendorError`, () => {
          const err = classifyHttpFailure({ ...base, status });
          expect(err).to.be.instanceOf(TransientVendorError);
          expect(err).to.not.be.instanceOf(UnrecoverableError);
          expect(err.name).to.equal('TransientVendorError');
        });
      }
    });

    describe('permanent failures', () => {
      for (const status of [400, 409, 422]) {
        it(`turns a ${status} into PermanentVendorError, which BullMQ will not retry`, () => {
          const err = classifyHttpFailure({ ...base, status, code: 'BadRequestException' });
          expect(err).to.be.instanceOf(PermanentVendorError);
          expect(err).to.be.instanceOf(UnrecoverableError);
          expect(err).to.be.instanceOf(Error);
          expect(err.name).to.equal('PermanentVendorError');
        });
      }
      // Issue 17: rejected credentials and refused permissions are configuration mistakes, naming the key to fix.
      for (const status of [401, 403]) {
        it(`turns a ${status} into a MisconfiguredVendorError (permanent, credentials) naming the credentials' config key`, () => {
          const err = classifyHttpFailure({ ...base, status, code: 'UnrecognizedClientException' });
          expect(err).to.be.instanceOf(MisconfiguredVendorError);
          expect(err).to.be.instanceOf(PermanentVendorError);
          expect(err).to.be.instanceOf(UnrecoverableError);
          expect((err as MisconfiguredVendorError).fault).to.equal('credentials');
          expect((err as MisconfiguredVendorError).configKey).to.equal('vendors.pinpoint.credentials');
          expect(err.message).to.equal(
            `vendors.pinpoint.credentials: credentials rejected or permission refused by pinpoint (pinpoint DeleteUserEndpoints answered ${status} UnrecognizedClientException)`,
          );
        });
      }
      it('reads the AWS codes for refused credentials as credential faults whatever the status', () => {
        expect(
          classifyHttpFailure({ ...base, vendor: 's3', status: 400, code: 'InvalidAccessKeyId' }),
        ).to.be.instanceOf(MisconfiguredVendorError);
        expect(
          classifyHttpFailure({ ...base, vendor: 's3', status: 400, code: 'InvalidArgument' }),
        ).to.not.be.instanceOf(MisconfiguredVendorError);
      });
      it('names a missing scope with its config key', () => {
        const err = scopeMissing(
          { vendor: 'pinpoint', operation: 'GetApp', code: '404 NotFoundException' },
          'vendors.pinpoint.appIds[0]',
          'does not exist in us-east-1',
        );
        expect(err.fault).to.equal('scope_missing');
        expect(err.message).to.match(/^vendors\.pinpoint\.appIds\[0\] does not exist in us-east-1 /);
      });
    });

    describe('messages (Invariant 1)', () => {
      it('name the vendor, operation, status and code', () => {
        const err = classifyHttpFailure({ ...base, status: 400, code: 'BadRequestException' });
        expect(err.message).to.equal('pinpoint DeleteUserEndpoints was refused (400 BadRequestException)');
      });

      it('leave out an absent code and an absent status', () => {
        expect(classifyHttpFailure({ ...base, status: 503 }).message).to.equal(
          'pinpoint DeleteUserEndpoints failed (503)',
        );
        expect(classifyHttpFailure({ ...base }).message).to.equal('pinpoint DeleteUserEndpoints failed');
        expect(classifyHttpFailure({ ...base, code: '' }).message).to.equal('pinpoint DeleteUserEndpoints failed');
      });

      it('say how long a throttled call waits', () => {
        expect(classifyHttpFailure({ ...base, status: 429, retryAfterMs: 2500 }).message).to.equal(
          'pinpoint DeleteUserEndpoints was throttled; retrying in 2500 ms (429)',
        );
      });

      it('carry nothing else a caller passes along, such as vendor message text', () => {
        const leaky = {
          ...base,
          status: 404,
          code: 'NotFoundException',
          message: 'Endpoint for ann@x.com not found',
          body: { email: 'ann@x.com' },
        };
        const err = classifyHttpFailure(leaky);
        expect(err.message).to.not.include('ann@x.com');
        expect(JSON.stringify(err)).to.not.include('ann@x.com');
        expect(err.details).to.deep.equal({
          vendor: 'pinpoint',
          operation: 'DeleteUserEndpoints',
          status: 404,
          code: 'NotFoundException',
        });
      });
    });

    it('are all recognised by isVendorError, and nothing else is', () => {
      for (const status of [429, 503, 400])
        expect(isVendorError(classifyHttpFailure({ ...base, status }))).to.equal(true);
      expect(isVendorError(new Error('x'))).to.equal(false);
      expect(isVendorError(new UnrecoverableError('x'))).to.equal(false);
      expect(isVendorError(undefined)).to.equal(false);
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');

    const cases: Array<[string, string | undefined, number | undefined]> = [
      ['reads whole seconds', '120', 120_000],
      ['reads zero seconds', '0', 0],
      ['reads fractional seconds', '1.5', 1500],
      ['rounds to whole milliseconds', '0.0004', 0],
      ['trims white space around seconds', ' 3 ', 3000],
      ['reads an IMF-fixdate in the future', 'Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
      ['reads an RFC 850 date', 'Thursday, 01-Jan-26 00:01:00 GMT', 60_000],
      ['reads an asctime date', 'Thu Jan  1 00:00:05 2026', 5000],
      ['gives 0 for a date in the past', 'Wed, 31 Dec 2025 23:59:00 GMT', 0],
      ['gives undefined for no header', undefined, undefined],
      ['gives undefined for an empty header', '', undefined],
      ['gives undefined for white space only', '   ', undefined],
      ['gives undefined for a word', 'soon', undefined],
      ['gives undefined for a word and a number', 'soon 5', undefined],
      ['gives undefined for seconds with a unit', '5 seconds', undefined],
      ['gives undefined for negative seconds', '-5', undefined],
      ['gives undefined for hex', '0x10', undefined],
      ['gives undefined for exponent notation', '1e3', undefined],
      ['gives undefined for two numbers', '1 2', undefined],
      ['gives undefined for Infinity', 'Infinity', undefined],
      ['gives undefined for a day name without a date', 'Thu, tomorrow', undefined],
    ];
    for (const [behaviour, value, expected] of cases) {
      it(`${behaviour} (${JSON.stringify(value)} → ${expected})`, () => {
        expect(parseRetryAfter(value, now)).to.equal(expected);
      });
    }

    it('measures a date from the current time by default', () => {
      const inAMinute = new Date(Date.now() + 60_000).toUTCString();
      const ms = parseRetryAfter(inAMinute)!;
      expect(ms).to.be.within(58_000, 60_000);
    });
  });
});
