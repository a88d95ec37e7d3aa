import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ENV_VARS } from '../../src/config/load-config.js';

/** The README's table of environment variables: the rows of the table under "## Configuration". */
function documentedVariables(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| variable |')));
  return [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
}

describe('README configuration table', () => {
  it('lists exactly the environment variables the service reads, since it says they are the only ones', () => {
    expect(documentedVariables()).to.have.members([...ENV_VARS]);
  });
});
