import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/load-config.js';

function problems(file: unknown): string[] {
  try {
    loadConfig({ env: {}, file });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return expect.fail('expected loadConfig to throw a ConfigError');
}

describe('Project deletion configuration', () => {
  it('waits five days by default and takes fractions of a day', () => {
    expect(loadConfig({ env: {}, file: {} }).projectDeletion).to.deep.equal({ gracePeriodDays: 5 });
    expect(
      loadConfig({ env: {}, file: { projectDeletion: { gracePeriodDays: 0.5 } } }).projectDeletion.gracePeriodDays,
    ).to.equal(0.5);
  });

  it('refuses a negative or unbounded grace period', () => {
    expect(problems({ projectDeletion: { gracePeriodDays: -1 } })).to.deep.equal([
      'config file: projectDeletion.gracePeriodDays must be greater than or equal to 0',
    ]);
    expect(problems({ projectDeletion: { gracePeriodDays: 1000 } })).to.deep.equal([
      'config file: projectDeletion.gracePeriodDays must be less than or equal to 365',
    ]);
  });

  it('keeps each Pinpoint app’s S3 prefixes, and refuses an empty prefix that would delete a whole bucket', () => {
    const pinpoint = {
      region: 'us-east-1',
      appIds: ['app1'],
      projectPrefixes: { app1: [{ bucket: 'my-imports', prefix: 'projects/app1/' }] },
    };
    expect(loadConfig({ env: {}, file: { vendors: { pinpoint } } }).vendors.pinpoint!.projectPrefixes).to.deep.equal({
      app1: [{ bucket: 'my-imports', prefix: 'projects/app1/' }],
    });
    const whole = problems({
      vendors: { pinpoint: { ...pinpoint, projectPrefixes: { app1: [{ bucket: 'my-imports', prefix: '' }] } } },
    });
    expect(whole).to.have.length(1);
    expect(whole[0]).to.include('projectPrefixes.app1[0].prefix');
  });
});
