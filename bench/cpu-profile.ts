import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The parts of a V8 CPU profile (`Profiler.stop`) that the breakdown reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Runs `work` under the V8 CPU profiler of this process and writes the profile to `file` (open it
 * in Chrome DevTools or speedscope). The profiler itself slows the run, so figures measured while
 * profiling are not the scenario's figures.
 */
export async function profileWhile<T>(
  file: string,
  work: () => Promise<T>,
): Promise<{ result: T; profile: CpuProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const result = await work();
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    return { result, profile };
  } finally {
    session.disconnect();
  }
}

/** Groups of packages named in the breakdown; any other package is named by itself. */
const GROUPS: Array<[RegExp, string]> = [
  [/node_modules\/(@smithy|@aws-sdk|@aws-crypto|fast-xml-parser)\//, 'aws-sdk'],
  [/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+)\//, 'pg'],
  [/node_modules\/(bullmq|ioredis|redis-parser|msgpackr|cluster-key-slot|denque)\//, 'bullmq+ioredis'],
  [
    /node_modules\/(express|router|body-parser|raw-body|send|finalhandler|etag|parseurl|path-to-regexp|mime-types|type-is)\//,
    'sandbox (express)',
  ],
  [/\/src\/sandbox\//, 'sandbox (express)'],
  [/\/(src|jobs|queues)\//, 'erasure (src, jobs, queues)'],
];

function groupOf(url: string): string | undefined {
  for (const [pattern, group] of GROUPS) if (pattern.test(url)) return group;
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(url);
  return pkg?.[1];
}

/**
 * Percent of sampled time per package. Each sample counts for the nearest frame on its stack that
 * belongs to a package or to this project, so time in Node's own code (a socket write, the HTTP
 * parser) counts for whoever called it. Samples with no such frame are `gc`, `idle` or `node`.
 */
export function shareByPackage(profile: CpuProfile): Record<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, time] of selfTime) {
    all += time;
    let owner: string | undefined;
    for (let at: number | undefined = id; at !== undefined && !owner; at = parentOf.get(at))
      owner = groupOf(byId.get(at)!.callFrame.url);
    if (!owner) {
      const name = byId.get(id)!.callFrame.functionName;
      owner = name === '(garbage collector)' ? 'gc' : name === '(idle)' ? 'idle' : 'node';
    }
    totals.set(owner, (totals.get(owner) ?? 0) + time);
  }
  const sorted = [...totals].sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(sorted.map(([owner, time]) => [owner, all > 0 ? Math.round((time / all) * 1000) / 10 : 0]));
}
