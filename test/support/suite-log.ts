import os from 'node:os';
import path from 'node:path';
import { removeAtRunEnd } from './temp-dirs.js';

/**
 * Every service a test starts appends its JSON log lines here, so the leak test can read every
 * line written during the run (Issue 2, acceptance 4).
 */
export const SUITE_LOG_FILE = path.join(os.tmpdir(), `erasure-suite-${process.pid}.log`);
// Read by the leak test near the end of the run, then removed with the run's temp dirs.
removeAtRunEnd(SUITE_LOG_FILE);
