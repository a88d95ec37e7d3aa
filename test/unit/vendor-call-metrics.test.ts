import { expect } from 'chai';
import { awsOperationName, operationLabel, outcomeOfStatus } from '../../src/vendors/vendor-call-observer.js';
import {
  bucketIndex,
  emptyHistogram,
  histogramLines,
  LATENCY_BUCKETS_SECONDS,
} from '../../src/metrics/latency-histogram.js';
import { parseTotals } from '../../src/metrics/vendor-call-stats.js';
import { vendorCallLines } from '../../src/api/metrics.js';

describe('Vendor call metrics (pure parts)', () => {
  it('classes an HTTP status as ok, 4xx, 429, 5xx, and no answer at all as a network error', () => {
    expect(outcomeOfStatus(200)).to.equal('ok');
    expect(outcomeOfStatus(204)).to.equal('ok');
    expect(outcomeOfStatus(404)).to.equal('4xx');
    expect(outcomeOfStatus(400)).to.equal('4xx');
    expect(outcomeOfStatus(429)).to.equal('429');
    expect(outcomeOfStatus(503)).to.equal('5xx');
    expect(outcomeOfStatus(undefined)).to.equal('network_error');
    expect(outcomeOfStatus(0)).to.equal('network_error');
  });

  it('labels a call by its operation name, and by its HTTP method when the name could be a path or an identifier', () => {
    expect(operationLabel('Push_DeleteInstallId', 'delete')).to.equal('Push_DeleteInstallId');
    expect(operationLabel('createDeletion', 'post')).to.equal('createDeletion');
    expect(operationLabel(undefined, 'get')).to.equal('GET');
    expect(operationLabel('/v0.1/apps/acme/app/push/devices/0000-1111', 'delete')).to.equal('DELETE');
    expect(operationLabel('user7@example.com', 'post')).to.equal('POST');
    expect(operationLabel('x'.repeat(80), 'post')).to.equal('POST');
    expect(operationLabel(undefined, 'not a method')).to.equal('other');
  });

  it("names an AWS SDK call by its command, without the 'Command' suffix", () => {
    expect(awsOperationName('DeleteEndpointCommand')).to.equal('DeleteEndpoint');
    expect(awsOperationName('ListObjectVersionsCommand')).to.equal('ListObjectVersions');
    expect(awsOperationName(undefined)).to.equal('other');
  });

  it('puts a duration in the first bucket whose bound holds it, and a very slow one in +Inf', () => {
    expect(bucketIndex(0)).to.equal(0);
    expect(bucketIndex(0.005)).to.equal(0);
    expect(bucketIndex(0.0051)).to.equal(1);
    expect(bucketIndex(1)).to.equal(LATENCY_BUCKETS_SECONDS.indexOf(1));
    expect(bucketIndex(999)).to.equal(LATENCY_BUCKETS_SECONDS.length);
  });

  it('renders a histogram with cumulative buckets ending at +Inf equal to the count, then sum and count', () => {
    const data = emptyHistogram();
    data.buckets[0] = 2; // ≤ 5 ms
    data.buckets[3] = 1; // ≤ 50 ms
    data.buckets[LATENCY_BUCKETS_SECONDS.length] = 1; // > 30 s
    data.count = 4;
    data.sumSeconds = 40.0601;
    const lines = histogramLines('erasure_vendor_call_duration_seconds', { vendor: 'pinpoint' }, data);
    expect(lines[0]).to.equal('erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="0.005"} 2');
    expect(lines[2]).to.equal('erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="0.025"} 2');
    expect(lines[3]).to.equal('erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="0.05"} 3');
    expect(lines[LATENCY_BUCKETS_SECONDS.length - 1]).to.equal(
      'erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="30"} 3',
    );
    expect(lines[LATENCY_BUCKETS_SECONDS.length]).to.equal(
      'erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="+Inf"} 4',
    );
    expect(lines.at(-2)).to.equal('erasure_vendor_call_duration_seconds_sum{vendor="pinpoint"} 40.0601');
    expect(lines.at(-1)).to.equal('erasure_vendor_call_duration_seconds_count{vendor="pinpoint"} 4');
    // Cumulative: never decreasing.
    const counts = lines.filter((l) => l.includes('_bucket')).map((l) => Number(l.split(' ').at(-1)));
    expect(counts).to.deep.equal([...counts].sort((a, b) => a - b));
  });

  it('reads the Redis hash back into counters and renders them as Prometheus text, ignoring fields it does not know', () => {
    const totals = parseTotals({
      'c|pinpoint|DeleteEndpoint|ok': '3',
      'c|pinpoint|GetUserEndpoints|429': '2',
      'b|pinpoint|0.01': '4',
      'b|pinpoint|+Inf': '1',
      's|pinpoint': '2500000',
      'n|pinpoint': '5',
      'b|pinpoint|0.123': '7',
      junk: 'x',
    });
    expect(totals.calls).to.deep.equal([
      { vendor: 'pinpoint', operation: 'DeleteEndpoint', outcome: 'ok', count: 3 },
      { vendor: 'pinpoint', operation: 'GetUserEndpoints', outcome: '429', count: 2 },
    ]);
    const text = vendorCallLines(totals).join('\n');
    expect(text).to.include('# TYPE erasure_vendor_calls_total counter');
    expect(text).to.include(
      'erasure_vendor_calls_total{vendor="pinpoint",operation="GetUserEndpoints",outcome="429"} 2',
    );
    expect(text).to.include('# TYPE erasure_vendor_call_duration_seconds histogram');
    expect(text).to.include('erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="0.01"} 4');
    expect(text).to.include('erasure_vendor_call_duration_seconds_bucket{vendor="pinpoint",le="+Inf"} 5');
    expect(text).to.include('erasure_vendor_call_duration_seconds_sum{vendor="pinpoint"} 2.5');
    expect(text).to.include('erasure_vendor_call_duration_seconds_count{vendor="pinpoint"} 5');
  });
});
