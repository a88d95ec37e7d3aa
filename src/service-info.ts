import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};

/** Name and version of this build, as receipts and metrics report them. */
export const SERVICE_INFO: { name: string; version: string } = { name: pkg.name, version: pkg.version };
