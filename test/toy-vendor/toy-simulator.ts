import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny HTTP simulator of the toy vendor: spaces hold people by user id.
 * - `GET /v1/spaces/:space` → 200 when the space exists, 404 otherwise;
 * - `GET /v1/spaces/:space/people/:userId` → 200 or 404;
 * - `DELETE /v1/spaces/:space/people/:userId` → 204, or 404 when the person is not there.
 * Every call needs `authorization: Bearer <apiKey>` (401 otherwise).
 */
export interface ToySimulator {
  baseUrl: string;
  apiKey: string;
  /** The people of each space, by user id. */
  spaces: Map<string, Set<string>>;
  /** Calls served, as `METHOD path-pattern`, e.g. `DELETE person`. */
  calls: string[];
  close(): Promise<void>;
}

export async function startToySimulator(seed: Record<string, string[]>, apiKey = 'toy-key'): Promise<ToySimulator> {
  const spaces = new Map(Object.entries(seed).map(([space, people]) => [space, new Set(people)]));
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    const answer = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      answer(401, { error: 'unauthorized' });
      return;
    }
    const [, version, spacesWord, space, peopleWord, userId] = (req.url ?? '').split('/').map(decodeURIComponent);
    if (version !== 'v1' || spacesWord !== 'spaces' || !space) {
      answer(404, { error: 'no route' });
      return;
    }
    const people = spaces.get(space);
    if (peopleWord === undefined) {
      calls.push(`${req.method ?? ''} space`);
      req.method === 'GET' && people ? answer(200, { space }) : answer(404, { error: 'no such space' });
      return;
    }
    if (peopleWord !== 'people' || !userId || !people) {
      answer(404, { error: 'no such space' });
      return;
    }
    calls.push(`${req.method ?? ''} person`);
    if (req.method === 'GET') {
      people.has(userId) ? answer(200, { userId }) : answer(404, { error: 'no such person' });
      return;
    }
    if (req.method === 'DELETE') {
      people.delete(userId) ? answer(204) : answer(404, { error: 'no such person' });
      return;
    }
    answer(405, { error: 'method not allowed' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    spaces,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
