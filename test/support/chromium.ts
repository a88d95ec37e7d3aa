import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The skip reason (test/support/skip.ts) of the browser tests on a machine without Chromium. */
export const NO_CHROMIUM = 'no Chromium (chromium, chromium-browser not found; npm test installs chromium)';

/**
 * The Chromium that playwright-core drives, found where scripts/ensure-ready.mjs looks for the one it
 * installs: `chromium` (Debian) or `chromium-browser` (Fedora) on PATH, or the macOS app (brew cask).
 */
export function chromiumExecutable(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
    encoding: 'utf8',
  }).stdout.trim();
  if (onPath) return onPath;
  const app = '/Applications/Chromium.app/Contents/MacOS/Chromium';
  return existsSync(app) ? app : undefined;
}
