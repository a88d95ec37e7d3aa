import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';

export interface QueryResult<R> {
  rows: R[];
}

/** Something SQL can be sent to: the database or an open transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** The ledger's store: a real Postgres server (DATABASE_URL) or embedded PGlite, behind one interface. */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` holding the session-level advisory lock `key` (pg_advisory_lock), released in the end
   * whatever happens. `fn` gets one connection, the lock's own: its statements and transactions
   * run inside the lock (a pool's other connections do not hold it).
   */
  withAdvisoryLock<T>(key: number, fn: (session: Session) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One connection of the store: statements, scripts and transactions on it. */
export type Session = Pick<Database, 'query' | 'exec' | 'transaction'>;

export interface OpenDatabaseOptions {
  /** postgres:// URL; without it PGlite is used. */
  databaseUrl?: string;
  /** PGlite's directory; `memory://` keeps it in memory (tests). */
  pgliteDir?: string;
  /** Pool size for a real server. @defaultValue 10 */
  poolSize?: number;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.poolSize ?? 10);
  return openPglite(options.pgliteDir ?? 'memory://');
}

async function openPostgres(url: string, max: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  // Nor a checked-out one: the pool stops listening for a client's errors while it is lent out, so
  // a server going away then (a restart) was an uncaught 'error' that ended the process. The query
  // in flight fails instead, and the pool drops the broken client when it comes back.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const client = await pool.connect();
  client.release();
  return {
    kind: 'postgres',
    query: queryOn((sql, params) => pool.query(sql, params)),
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: async (fn) => {
      const conn = await pool.connect();
      try {
        return await transactionOn(conn, fn);
      } finally {
        conn.release();
      }
    },
    withAdvisoryLock: async (key, fn) => {
      const conn = await pool.connect();
      let broken = false;
      try {
        await conn.query('SELECT pg_advisory_lock($1)', [key]);
        try {
          return await fn(sessionOn(conn));
        } finally {
          // A connection that cannot unlock is dropped, not pooled: closing it ends the lock.
          await conn.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => (broken = true));
        }
      } finally {
        conn.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/**
 * A driver's query as `Queryable.query`. Neither driver checks what a row holds: the row type is
 * the caller's word (as in pg's and PGlite's own `query<R>`), hence the one cast, to `never[]`,
 * which every `R[]` accepts.
 */
function queryOn(run: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }>): Queryable['query'] {
  return async (sql, params) => ({ rows: (await run(sql, params)).rows as never[] });
}

/** BEGIN … COMMIT on one connection, rolled back when `fn` throws. */
async function transactionOn<T>(conn: pg.PoolClient, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  try {
    await conn.query('BEGIN');
    const result = await fn({ query: queryOn((sql, params) => conn.query(sql, params)) });
    await conn.query('COMMIT');
    return result;
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function sessionOn(conn: pg.PoolClient): Session {
  return {
    query: queryOn((sql, params) => conn.query(sql, params)),
    exec: async (sql) => {
      await conn.query(sql);
    },
    transaction: (fn) => transactionOn(conn, fn),
  };
}

async function openPglite(dir: string): Promise<Database> {
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const database: Database = {
    kind: 'pglite',
    query: queryOn((sql, params) => db.query(sql, params)),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) => db.transaction(async (tx) => fn({ query: queryOn((sql, params) => tx.query(sql, params)) })),
    // One connection only: the lock is taken for symmetry (and for a PGlite shared by a socket server).
    withAdvisoryLock: async (key, fn) => {
      await db.query('SELECT pg_advisory_lock($1)', [key]);
      try {
        return await fn(database);
      } finally {
        await db.query('SELECT pg_advisory_unlock($1)', [key]);
      }
    },
    close: () => db.close(),
  };
  return database;
}
