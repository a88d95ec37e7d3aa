import { expect } from 'chai';
import {
  AT_RISK_DEFAULTS,
  assessRisk,
  estimateDurations,
  percentileCont,
  type DurationEstimate,
} from '../../src/deadlines/at-risk.js';

const HOUR = 3_600_000;
const now = new Date('2026-11-10T12:00:00Z');
const settings = { ...AT_RISK_DEFAULTS, minSamples: 3, defaultHours: 24, vendorDefaultHours: { amplitude: 240 } };
const estimate = (vendor: string, hours: number): DurationEstimate => ({
  vendor,
  seconds: hours * 3600,
  samples: 10,
  source: 'observed',
});

describe('at_risk (deadline risk rule)', () => {
  it('computes the p95 as Postgres percentile_cont does, interpolating between ranks', () => {
    expect(percentileCont([1, 2, 3, 4, 100], 0.95)).to.be.closeTo(80.8, 1e-9);
    expect(percentileCont([5], 0.95)).to.equal(5);
    expect(percentileCont([10, 20], 0.5)).to.equal(15);
    expect(percentileCont([], 0.95)).to.equal(undefined);
  });

  it('uses the observed p95 with enough samples, and the configured default (per vendor if set) with too few', () => {
    const estimates = estimateDurations(
      ['pinpoint', 'segment', 'amplitude', 's3'],
      [
        { vendor: 'pinpoint', samples: 3, p95Seconds: 7200 },
        { vendor: 'segment', samples: 2, p95Seconds: 99_999 },
      ],
      settings,
    );
    expect(estimates).to.deep.equal([
      { vendor: 'pinpoint', seconds: 7200, samples: 3, source: 'observed' },
      { vendor: 'segment', seconds: 24 * 3600, samples: 2, source: 'default' },
      { vendor: 'amplitude', seconds: 240 * 3600, samples: 0, source: 'default' },
      { vendor: 's3', seconds: 24 * 3600, samples: 0, source: 'default' },
    ]);
  });

  it('flags an open request when now plus an unfinished vendor’s p95 passes the due date, naming that vendor', () => {
    const request = { dueAt: new Date(now.getTime() + 10 * HOUR), finishedAt: null };
    const risk = assessRisk(
      request,
      ['pinpoint', 'segment', 'segment'],
      [estimate('pinpoint', 1), estimate('segment', 11)],
      now,
    );
    expect(risk.atRisk).to.equal(true);
    expect(risk.vendors.map((v) => v.vendor)).to.deep.equal(['segment']);
    expect(risk.vendors[0].expectedFinishAt.toISOString()).to.equal(new Date(now.getTime() + 11 * HOUR).toISOString());
    expect(risk.expectedFinishAt?.getTime()).to.equal(now.getTime() + 11 * HOUR);
  });

  it('does not flag a request whose unfinished vendors all fit before the due date', () => {
    const request = { dueAt: new Date(now.getTime() + 10 * HOUR), finishedAt: null };
    const risk = assessRisk(request, ['pinpoint'], [estimate('pinpoint', 9.9), estimate('segment', 100)], now);
    expect(risk).to.deep.include({ atRisk: false, vendors: [] });
    expect(risk.expectedFinishAt?.getTime()).to.equal(now.getTime() + 9.9 * HOUR);
  });

  it('never flags a request that has ended, has no unfinished task, or is already overdue', () => {
    const slow = [estimate('pinpoint', 1000)];
    expect(
      assessRisk({ dueAt: new Date(now.getTime() + HOUR), finishedAt: now }, ['pinpoint'], slow, now).atRisk,
    ).to.equal(false);
    expect(assessRisk({ dueAt: new Date(now.getTime() + HOUR), finishedAt: null }, [], slow, now).atRisk).to.equal(
      false,
    );
    expect(
      assessRisk({ dueAt: new Date(now.getTime() - HOUR), finishedAt: null }, ['pinpoint'], slow, now).atRisk,
      'overdue, not at risk',
    ).to.equal(false);
  });
});
