#!/usr/bin/env node
// Runs before `npm start` and `npm test`: installs the locked dependencies on a fresh clone and
// says exactly what to install when redis-server is missing. Plain Node, no dependencies.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const installed = 'node_modules/.package-lock.json';
if (!existsSync(installed) || statSync('package-lock.json').mtimeMs > statSync(installed).mtimeMs + 1000) {
  console.log('Installing dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const external = process.env.REDIS_URL;
if (!external && spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error(
    [
      'redis-server is not installed. Erasure starts its own Redis unless REDIS_URL is set. Install it with:',
      '  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y redis-server',
      '  macOS:          brew install redis',
      'or run everything in containers:  docker compose up',
    ].join('\n'),
  );
  process.exit(1);
}
