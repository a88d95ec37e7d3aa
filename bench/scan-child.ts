import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { scanExportFiles, type ScanSubject } from '../src/vendors/pinpoint-export-scanner.js';

/**
 * Runs one scan in a process of its own, so its peak RSS is the scanner's and nothing else's.
 * argv: export file, subjects JSON file. Prints one JSON line.
 */
const [file, subjectsFile] = process.argv.slice(2);
if (!file || !subjectsFile) throw new Error('usage: scan-child EXPORT_FILE SUBJECTS_JSON');
const subjects = JSON.parse(readFileSync(subjectsFile, 'utf8')) as ScanSubject[];
const started = performance.now();
const { stats, endpointIds } = await scanExportFiles([file], subjects);
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ ms, bytes: stats.bytes, lines: stats.lines, endpointIds: endpointIds.flat().sort(), maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
);
