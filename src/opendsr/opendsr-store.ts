import type { Database, Queryable } from '../ledger/database.js';

/** What the ledger keeps about an OpenDSR request besides the native request (never the body). */
export interface OpenDsrRecord {
  subjectRequestId: string;
  requestId: string;
  /** Our id for the controller: the name of the token it submitted with. */
  controllerId: string;
  /** Keyed hash of the canonical body: a repeat with the same id and body gets the same answer. */
  bodyHash: string;
  statusCallbackUrls: string[];
  /** '2.0' (`/v2` paths) or '1.0' (OpenGDPR `/v1` aliases): which header names callbacks carry. */
  apiVersion: string;
  receivedAt: Date;
}

interface Row {
  subject_request_id: string;
  request_id: string;
  controller_id: string;
  body_hash: string;
  status_callback_urls: string[];
  api_version: string;
  received_at: Date;
}

function toRecord(row: Row): OpenDsrRecord {
  return {
    subjectRequestId: row.subject_request_id,
    requestId: row.request_id,
    controllerId: row.controller_id,
    bodyHash: row.body_hash,
    statusCallbackUrls: row.status_callback_urls,
    apiVersion: row.api_version,
    receivedAt: new Date(row.received_at),
  };
}

/** The `opendsr_requests` table (migrations 4 and 7): (controller, subject_request_id) ↔ request, callbacks, body hash. */
export class OpenDsrStore {
  constructor(private readonly db: Database) {}

  /** Inside the request's creating transaction (intake `afterInsert`), so both commit together. */
  async insert(tx: Queryable, record: OpenDsrRecord): Promise<void> {
    await tx.query(
      `INSERT INTO opendsr_requests (subject_request_id, request_id, controller_id, body_hash, status_callback_urls, api_version, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        record.subjectRequestId,
        record.requestId,
        record.controllerId,
        record.bodyHash,
        record.statusCallbackUrls,
        record.apiVersion,
        record.receivedAt,
      ],
    );
  }

  /** A controller's request by its subject_request_id (unique per controller, migration 7). */
  async bySubjectRequestId(controllerId: string, subjectRequestId: string): Promise<OpenDsrRecord | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM opendsr_requests WHERE controller_id = $1 AND subject_request_id = $2`,
      [controllerId, subjectRequestId],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** Every controller's request with this subject_request_id (staff reads), at most `limit`. */
  async allBySubjectRequestId(subjectRequestId: string, limit = 2): Promise<OpenDsrRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM opendsr_requests WHERE subject_request_id = $1 ORDER BY received_at LIMIT $2`,
      [subjectRequestId, limit],
    );
    return rows.map(toRecord);
  }

  /** `tx`: read inside a transaction (the callback outbox writes with the status change it follows). */
  async byRequestId(requestId: string, tx: Queryable = this.db): Promise<OpenDsrRecord | undefined> {
    const { rows } = await tx.query<Row>(`SELECT * FROM opendsr_requests WHERE request_id = $1`, [requestId]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }
}
