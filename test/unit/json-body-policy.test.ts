import { expect } from 'chai';
import {
  assertJsonDepth,
  bodyFailureAnswer,
  JsonBodyError,
  MAX_JSON_DEPTH,
  parseJsonBody,
} from '../../src/api/json-body-policy.js';
import { canonicalJson } from '../../src/privacy/canonical-json.js';

describe('JSON body policy and canonical JSON on deep input (issue 25, item 1)', () => {
  it('refuses nesting deeper than the limit, and counts brackets inside strings as text', () => {
    expect(() => {
      assertJsonDepth(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`);
    }).not.to.throw();
    expect(() => {
      assertJsonDepth(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`);
    }).to.throw(JsonBodyError, /deeper than 32/);
    expect(() => {
      assertJsonDepth(JSON.stringify({ a: '['.repeat(1000), b: '\\"{{{{' }));
    }).not.to.throw();
    expect(() => parseJsonBody('{"a":')).to.throw(JsonBodyError, 'the body is not valid JSON');
    expect(parseJsonBody(Buffer.from('{"a":[1]}'))).to.deep.equal({ a: [1] });
  });

  it('keeps a body parser 4xx (a gzip header over bytes that are not gzip) instead of turning it into 500', () => {
    expect(
      bodyFailureAnswer(Object.assign(new Error('incorrect header check'), { status: 400, type: undefined }), 100)
        ?.status,
    ).to.equal(400);
    expect(
      bodyFailureAnswer(Object.assign(new Error('x'), { status: 415, type: 'encoding.unsupported' }), 100)?.status,
    ).to.equal(415);
    expect(
      bodyFailureAnswer(Object.assign(new Error('x'), { status: 413, type: 'entity.too.large' }), 100),
    ).to.deep.include({ status: 413, code: 'body_too_large' });
    expect(bodyFailureAnswer(new TypeError('a bug'), 100), 'a bug stays a 500').to.equal(undefined);
  });

  it('canonicalises a value nested 100,000 levels deep without a RangeError, with the same bytes as before', () => {
    let value: unknown = 1;
    for (let i = 0; i < 100_000; i++) value = i % 2 ? { a: value } : [value];
    expect(canonicalJson(value)).to.have.length.above(400_000);
    expect(canonicalJson({ b: [1, undefined, { z: 1, a: [] }], a: null, c: new Date(0), d: undefined })).to.equal(
      '{"a":null,"b":[1,null,{"a":[],"z":1}],"c":"1970-01-01T00:00:00.000Z"}',
    );
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).to.throw(TypeError);
    expect(() => canonicalJson({ n: Number.NaN })).to.throw(TypeError);
  });
});
