import type { Response } from 'got';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { AppCenterClient } from './appcenter-client.js';
import { blobError, networkError, parseJson, type AppCenterContext } from './appcenter-http.js';

/** The device export's blobs in the export container (Azure Blob Storage): list, read, delete. */
export function exportMethods(
  ctx: AppCenterContext,
): Pick<AppCenterClient, 'exportBlobNames' | 'readExportRows' | 'deleteExportBlob'> {
  const { blobUrl, blobCall } = ctx;
  return {
    exportBlobNames: (exportId, signal) => listExportBlobNames(ctx, exportId, signal),
    async readExportRows(blobName, onRow, signal) {
      const stream = await openBlob(ctx, blobName, signal);
      const input: Readable = blobName.endsWith('.gz') ? stream.pipe(createGunzip()) : stream;
      try {
        return await readJsonObjectLines(input, onRow);
      } catch (err) {
        stream.destroy();
        throw networkError('AzureBlob_GetBlob', err);
      }
    },
    async deleteExportBlob(blobName, signal) {
      const { status } = await blobCall(
        'AzureBlob_DeleteBlob',
        'DELETE',
        blobUrl('AzureBlob_DeleteBlob', blobName),
        signal,
      );
      return status !== 404;
    },
  };
}

async function listExportBlobNames(ctx: AppCenterContext, exportId: string, signal?: AbortSignal): Promise<string[]> {
  const { requireSas, blobCall, xml } = ctx;
  const container = requireSas('AzureBlob_ListBlobs');
  const names: string[] = [];
  let marker = '';
  do {
    const url = new URL(container.toString());
    url.searchParams.set('restype', 'container');
    url.searchParams.set('comp', 'list');
    url.searchParams.set('prefix', `${exportId}/`);
    if (marker) url.searchParams.set('marker', marker);
    const { status, body } = await blobCall('AzureBlob_ListBlobs', 'GET', url.toString(), signal);
    if (status === 404) return names;
    const parsed = xml.parse(body) as {
      EnumerationResults?: { Blobs?: { Blob?: Array<{ Name?: unknown }> } | ''; NextMarker?: unknown };
    };
    const blobs = parsed.EnumerationResults?.Blobs;
    for (const blob of blobs && typeof blobs === 'object' ? (blobs.Blob ?? []) : [])
      if (typeof blob.Name === 'string' || typeof blob.Name === 'number') names.push(String(blob.Name));
    const next = parsed.EnumerationResults?.NextMarker;
    marker = typeof next === 'string' || typeof next === 'number' ? String(next) : '';
  } while (marker);
  return names;
}

/** AzureBlob_GetBlob as a stream, once its answer is a 200 (anything else is the taxonomy). */
async function openBlob(ctx: AppCenterContext, blobName: string, signal?: AbortSignal) {
  const stream = ctx.http.stream(ctx.blobUrl('AzureBlob_GetBlob', blobName), {
    signal,
    context: { operation: 'AzureBlob_GetBlob' },
  });
  let response: Response;
  try {
    response = await new Promise<Response>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
  } catch (err) {
    stream.destroy();
    throw networkError('AzureBlob_GetBlob', err);
  }
  if (response.statusCode !== 200) {
    stream.destroy();
    throw blobError(
      'AzureBlob_GetBlob',
      response.statusCode,
      response.headers['x-ms-error-code'],
      response.headers['retry-after'],
      ctx.settings.throttleDelayMs,
    );
  }
  return stream;
}

/** NDJSON rows: each line that is a JSON object goes to `onRow`; returns how many did. */
async function readJsonObjectLines(input: Readable, onRow: (row: Record<string, unknown>) => void): Promise<number> {
  let rows = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    const text = line.trim();
    if (!text) continue;
    const row = parseJson(text);
    // A line that is not a JSON object is skipped, never echoed: it may hold anything.
    if (row && typeof row === 'object' && !Array.isArray(row)) {
      rows += 1;
      onRow(row as Record<string, unknown>);
    }
  }
  return rows;
}
