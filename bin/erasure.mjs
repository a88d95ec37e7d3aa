#!/usr/bin/env node
// The `erasure` command: runs the TypeScript entry point through tsx, the project's runtime.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
