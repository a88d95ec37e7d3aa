import type { Request } from 'express';
import { badRequest } from './pinpoint-store.js';

/** Largest `page-size` honoured; AWS's maximum is unconfirmed (vendor-contracts §1.2). */
export const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

/**
 * `page-size` / `token` paging with an opaque token and `NextToken` absent on the last page.
 * Every `shortPageEvery`-th page holds only half a page (0 = never), as a real service may,
 * so clients must follow `NextToken` rather than stop at the first page shorter than asked.
 */
export function paginate<T>(items: T[], req: Request, shortPageEvery = 0): { Item: T[]; NextToken?: string } {
  const size = Math.max(
    1,
    Math.min(Number(req.query['page-size'] ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
  );
  const token = typeof req.query.token === 'string' && req.query.token ? req.query.token : undefined;
  let start = 0;
  let page = 0;
  if (token) {
    const match = /^p(\d+)\.(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
    if (!match) throw badRequest('Invalid token');
    start = Number(match[1]);
    page = Number(match[2]);
  }
  const short = shortPageEvery > 0 && (page + 1) % shortPageEvery === 0 && size > 1;
  const take = short ? Math.ceil(size / 2) : size;
  const slice = items.slice(start, start + take);
  const end = start + slice.length;
  if (end >= items.length) return { Item: slice };
  return { Item: slice, NextToken: Buffer.from(`p${end}.${page + 1}`).toString('base64url') };
}
