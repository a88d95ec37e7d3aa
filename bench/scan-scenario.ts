import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { exportFixture, fixtureSubjects, type ExportFixture } from './export-fixture.js';
import { median, round, type Figure, type Figures, type Scenario, type ScenarioContext } from './scenario.js';

const RSS_LIMIT_MB = 150;
const RATIO_TARGET = 0.8;
const ENDPOINT_ID = /"Id":"([^"]+)"/;
const here = path.dirname(fileURLToPath(import.meta.url));

interface RunOutput {
  ms: number;
  endpointIds: string[];
  maxRssBytes?: number;
  bytes?: number;
}

function runProcess(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      // grep exits 1 when nothing matched: still a result.
      if (code === 0 || (command === 'bash' && code === 1)) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${command} exited with ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 500)}`));
    });
  });
}

/** Our scanner, in a child process (node + tsx, as the service runs). */
async function runScanner(fixture: ExportFixture, subjectsFile: string): Promise<RunOutput> {
  const text = await runProcess(process.execPath, [
    '--import',
    'tsx',
    path.join(here, 'scan-child.ts'),
    fixture.file,
    subjectsFile,
  ]);
  return JSON.parse(text.trim().split('\n').pop()!) as RunOutput;
}

/** The baseline: `zcat FILE | grep -F -f PATTERNS`, timed from spawn to exit. */
async function runGrep(fixture: ExportFixture, patternsFile: string): Promise<RunOutput> {
  const started = performance.now();
  const text = await runProcess('bash', [
    '-c',
    'set -o pipefail; zcat "$1" | LC_ALL=C grep -F -f "$2"',
    'bench',
    fixture.file,
    patternsFile,
  ]);
  const ms = performance.now() - started;
  const endpointIds = text
    .split('\n')
    .filter(Boolean)
    .map((line) => ENDPOINT_ID.exec(line)?.[1] ?? '')
    .sort();
  return { ms, endpointIds };
}

async function measure(context: ScenarioContext, fixture: ExportFixture, count: number, repeats: number) {
  const { subjects, grepPatterns } = fixtureSubjects(fixture, count);
  const subjectsFile = path.join(context.cacheDir, `scan-subjects-${count}.json`);
  const patternsFile = path.join(context.cacheDir, `scan-patterns-${count}.txt`);
  writeFileSync(subjectsFile, JSON.stringify(subjects));
  writeFileSync(patternsFile, `${grepPatterns.join('\n')}\n`);
  const ours: RunOutput[] = [];
  const grep: RunOutput[] = [];
  // Alternate the two so machine noise falls on both alike.
  for (let i = 0; i < repeats; i++) {
    ours.push(await runScanner(fixture, subjectsFile));
    grep.push(await runGrep(fixture, patternsFile));
  }
  const bytes = ours[0].bytes!;
  const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
  const ourMbps = mbps(median(ours.map((r) => r.ms)));
  const grepMbps = mbps(median(grep.map((r) => r.ms)));
  const sameEndpoints =
    ours.every((r) => r.endpointIds.join() === grep[0].endpointIds.join()) &&
    grep.every((r) => r.endpointIds.join() === grep[0].endpointIds.join());
  const peakRssMb = Math.max(...ours.map((r) => r.maxRssBytes!)) / 1e6;
  context.log(
    `scan: ${count} subjects: ours ${round(ourMbps, 1)} MB/s, zcat|grep ${round(grepMbps, 1)} MB/s, peak RSS ${round(peakRssMb, 1)} MB`,
  );
  return {
    measured: {
      mb_per_s: round(ourMbps, 1),
      seconds: round(median(ours.map((r) => r.ms)) / 1000),
      peak_rss_mb: round(peakRssMb, 1),
      endpoints_found: ours[0].endpointIds.length,
      same_endpoints_as_grep: sameEndpoints,
    },
    baseline: {
      mb_per_s: round(grepMbps, 1),
      seconds: round(median(grep.map((r) => r.ms)) / 1000),
      endpoints_found: grep[0].endpointIds.length,
    },
    ratio: ourMbps / grepMbps,
    bytes,
    peakRssMb,
    sameEndpoints,
  };
}

/** `scan`: the Pinpoint export scanner vs `zcat | grep -F -f` on a generated 1M-endpoint export. */
export const scanScenario: Scenario = {
  name: 'scan',
  summary: 'Pinpoint export scan (MB/s of uncompressed NDJSON) vs zcat | grep -F -f, 1,000 and 10,000 subjects',
  async run(context) {
    const endpoints = context.size === 'full' ? 1_000_000 : 20_000;
    const counts = context.size === 'full' ? [1_000, 10_000] : [100, 1_000];
    const repeats = context.size === 'full' ? 3 : 1;
    context.log(`scan: generating (or reusing) a ${endpoints}-endpoint export`);
    const fixture = await exportFixture(context.cacheDir, endpoints);
    const measured: Figures = { endpoints, uncompressed_mb: 0 };
    const baseline: Figures = {};
    const ratios: number[] = [];
    let met = true;
    let uncompressedMb = 0;
    for (const count of counts) {
      const r = await measure(context, fixture, count, repeats);
      measured[`subjects_${count}`] = { ...r.measured, ratio: round(r.ratio) };
      baseline[`subjects_${count}`] = r.baseline;
      uncompressedMb = round(r.bytes / 1e6, 1);
      measured.uncompressed_mb = uncompressedMb;
      ratios.push(r.ratio);
      met &&= r.ratio >= RATIO_TARGET && r.peakRssMb <= RSS_LIMIT_MB && r.sameEndpoints;
    }
    const headline = (figures: Figures) =>
      counts
        .map((count) => `${count}: ${String((figures[`subjects_${count}`] as Record<string, Figure>).mb_per_s)} MB/s`)
        .join(', ');
    const rss = counts.map((count) => (measured[`subjects_${count}`] as Record<string, unknown>).peak_rss_mb);
    return {
      measured,
      baseline,
      ratio: round(Math.min(...ratios)),
      headline: {
        measured: `${headline(measured)} (subjects: MB/s of ${uncompressedMb} MB); peak RSS ${Math.max(...(rss as number[]))} MB`,
        baseline: `zcat | grep -F -f: ${headline(baseline)}`,
      },
      target: `ratio >= ${RATIO_TARGET} at each subject count, peak RSS <= ${RSS_LIMIT_MB} MB, same endpoints as grep`,
      met,
    };
  },
};
