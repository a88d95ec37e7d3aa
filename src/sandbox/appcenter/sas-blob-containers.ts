import express from 'express';
import type { Request, Response } from 'express';
import { createHash, randomUUID } from 'node:crypto';

/**
 * The customer's Azure Blob container that App Center's device export writes into, reached
 * through a container SAS URL. The simulator serves it itself, under `/blobs/{container}`, with
 * the slice of the Azure Blob REST API a client needs to fetch and purge an export: List Blobs,
 * Get Blob and Delete Blob. Every request must carry the container's SAS signature (`sig`).
 */
export interface StoredBlob {
  name: string;
  body: Buffer;
  contentType: string;
  createdAt: Date;
  etag: string;
}

interface BlobContainer {
  signature: string;
  blobs: Map<string, StoredBlob>;
}

/** Where a container SAS URL points: the container (last path segment) and its signature. */
export interface ContainerSas {
  container: string;
  signature: string;
  /** The SAS `sp` permissions, e.g. `racwdl`; undefined when the URL names none. */
  permissions?: string;
  /** The SAS `se` expiry as epoch milliseconds, when present and parseable. */
  expiresAt?: number;
}

/** Azure container names: 3–63 lower-case letters, digits and single hyphens. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/** Reads a container SAS URL; undefined when it is not one (no absolute URL, no container, no `sig`). */
export function parseContainerSas(uri: string): ContainerSas | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const container = url.pathname.split('/').filter(Boolean).pop();
  const signature = url.searchParams.get('sig');
  if (!container || !CONTAINER_NAME.test(container) || !signature) return undefined;
  const expiry = url.searchParams.get('se');
  const expiresAt = expiry ? Date.parse(expiry) : NaN;
  return {
    container,
    signature,
    ...(url.searchParams.has('sp') ? { permissions: url.searchParams.get('sp') ?? '' } : {}),
    ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
  };
}

export class SasBlobContainers {
  private readonly containers = new Map<string, BlobContainer>();

  /** Creates the container (as the customer would in Azure) with the signature its SAS URLs carry. */
  createContainer(container: string, signature: string): void {
    if (!this.containers.has(container)) this.containers.set(container, { signature, blobs: new Map() });
  }

  containerExists(container: string): boolean {
    return this.containers.has(container);
  }

  /** Writes through a SAS: the container is created with that SAS's signature when it does not exist yet. */
  putBlob(sas: ContainerSas, name: string, body: Buffer, contentType: string, now: Date): StoredBlob {
    this.createContainer(sas.container, sas.signature);
    const blob: StoredBlob = {
      name,
      body,
      contentType,
      createdAt: now,
      etag: `"0x${createHash('md5').update(body).digest('hex').slice(0, 15).toUpperCase()}"`,
    };
    const container = this.containers.get(sas.container);
    if (!container) throw new Error('the container was not created');
    container.blobs.set(name, blob);
    return blob;
  }

  getBlob(container: string, name: string): StoredBlob | undefined {
    return this.containers.get(container)?.blobs.get(name);
  }

  /** Blob names in Azure's order (lexicographic), under a prefix. */
  listBlobs(container: string, prefix = ''): StoredBlob[] {
    const blobs = [...(this.containers.get(container)?.blobs.values() ?? [])].filter((b) => b.name.startsWith(prefix));
    return blobs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  deleteBlob(container: string, name: string): boolean {
    return this.containers.get(container)?.blobs.delete(name) ?? false;
  }

  signatureOf(container: string): string | undefined {
    return this.containers.get(container)?.signature;
  }
}

/** Writes an Azure Storage error: XML `<Error><Code/><Message/></Error>` plus `x-ms-error-code`. */
function sendBlobError(res: Response, status: number, code: string, message: string): void {
  res
    .status(status)
    .set('x-ms-error-code', code)
    .type('application/xml')
    .send(
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`,
    );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface SasBlobRouterOptions {
  containers: SasBlobContainers;
  /** Runs before every read, so export jobs that finished on the sandbox clock have written their blobs. */
  beforeRead?: () => void;
}

/**
 * Azure Blob REST on `/blobs/{container}`: `GET ?restype=container&comp=list[&prefix=]` (List Blobs,
 * XML), `GET|HEAD /{blob}` (Get Blob) and `DELETE /{blob}` (Delete Blob, 202). Not App Center: no
 * `X-API-Token`, no App Center faults or retirement, only the SAS signature.
 */
export function createSasBlobRouter(options: SasBlobRouterOptions): express.Router {
  const { containers } = options;
  const router = express.Router();

  router.use((req, res, next) => {
    res.set('x-ms-request-id', randomUUID()).set('x-ms-version', '2023-11-03');
    options.beforeRead?.();
    next();
  });

  const authorized = (req: Request, res: Response, container: string): boolean => {
    const expected = containers.signatureOf(container);
    if (expected === undefined) {
      sendBlobError(res, 404, 'ContainerNotFound', 'The specified container does not exist.');
      return false;
    }
    if (req.query.sig !== expected) {
      sendBlobError(
        res,
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
      );
      return false;
    }
    return true;
  };

  router.get('/:container', (req, res) => {
    res.locals.operation = 'AzureBlob_ListBlobs';
    const container = req.params.container;
    if (!authorized(req, res, container)) return;
    if (req.query.restype !== 'container') {
      sendBlobError(
        res,
        400,
        'InvalidQueryParameterValue',
        'Value for one of the query parameters specified in the request URI is invalid.',
      );
      return;
    }
    if (req.query.comp !== 'list') return res.status(200).end();
    const prefix = typeof req.query.prefix === 'string' ? req.query.prefix : '';
    const items = containers
      .listBlobs(container, prefix)
      .map(
        (b) =>
          `<Blob><Name>${escapeXml(b.name)}</Name><Properties><Creation-Time>${b.createdAt.toUTCString()}</Creation-Time>` +
          `<Last-Modified>${b.createdAt.toUTCString()}</Last-Modified><Etag>${b.etag}</Etag><Content-Length>${b.body.length}</Content-Length>` +
          `<Content-Type>${escapeXml(b.contentType)}</Content-Type><BlobType>BlockBlob</BlobType></Properties></Blob>`,
      )
      .join('');
    const endpoint = `${req.protocol}://${req.get('host')}${req.baseUrl}/`;
    res
      .status(200)
      .type('application/xml')
      .send(
        `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${escapeXml(endpoint)}" ContainerName="${escapeXml(container)}">` +
          `${prefix ? `<Prefix>${escapeXml(prefix)}</Prefix>` : ''}<Blobs>${items}</Blobs><NextMarker /></EnumerationResults>`,
      );
  });

  const blobName = (req: Request): string => {
    const parts = req.params.name;
    return Array.isArray(parts) ? parts.join('/') : parts;
  };

  router.get('/:container/*name', (req, res) => {
    res.locals.operation = 'AzureBlob_GetBlob';
    const container = req.params.container;
    if (!authorized(req, res, container)) return;
    const blob = containers.getBlob(container, blobName(req));
    if (!blob) {
      sendBlobError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
      return;
    }
    res
      .status(200)
      .set('ETag', blob.etag)
      .set('Last-Modified', blob.createdAt.toUTCString())
      .set('x-ms-blob-type', 'BlockBlob')
      .type(blob.contentType)
      .send(blob.body);
  });

  router.delete('/:container/*name', (req, res) => {
    res.locals.operation = 'AzureBlob_DeleteBlob';
    const container = req.params.container;
    if (!authorized(req, res, container)) return;
    if (!containers.deleteBlob(container, blobName(req))) {
      sendBlobError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
      return;
    }
    res.status(202).set('x-ms-delete-type-permanent', 'true').end();
  });

  router.use((_req, res) => {
    sendBlobError(res, 405, 'UnsupportedHttpVerb', "The resource doesn't support the specified HTTP verb.");
  });
  return router;
}
