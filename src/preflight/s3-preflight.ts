import { randomBytes } from 'node:crypto';
import type { S3Location } from '../vendors/s3-settings.js';
import type { PreflightInput, VendorCheck } from './vendor-preflight.js';
import { answerOf, patiently } from './preflight-probes.js';

type S3Client = NonNullable<PreflightInput['clients']['s3']>;

/** Settings and client of s3, both present (runPreflight checks). */
export async function checkS3(
  input: PreflightInput,
  settings: NonNullable<PreflightInput['vendors']['s3']>,
  client: S3Client,
): Promise<VendorCheck[]> {
  const checks: VendorCheck[] = [];
  let credentials: VendorCheck | undefined;
  for (const [i, location] of settings.locations.entries()) {
    const key = `vendors.s3.locations[${i}]`;
    try {
      await patiently(() => client.versioning(location.bucket, input.signal), input.signal);
      credentials ??= { vendor: 's3', check: 'credentials', status: 'ok', detail: 'GetBucketVersioning answered' };
    } catch (err) {
      const answer = answerOf(err);
      // A key S3 does not know, or a wrong secret: the credentials. AccessDenied is a permission, below.
      if (/InvalidAccessKeyId|SignatureDoesNotMatch/.test(answer.text)) {
        credentials = {
          vendor: 's3',
          check: 'credentials',
          key: 'vendors.s3.credentials',
          status: 'fail',
          detail: `vendors.s3.credentials were rejected (${answer.text})`,
        };
        break;
      }
      const missing = answer.status === 404 || answer.text.includes('NoSuchBucket');
      checks.push({
        vendor: 's3',
        check: 'scope',
        key: `${key}.bucket`,
        status: 'fail',
        detail: missing
          ? `${key}.bucket ${location.bucket} does not exist (${answer.text})`
          : `${key}.bucket ${location.bucket} could not be read (${answer.text})`,
      });
      continue;
    }
    checks.push(await prefixCheck(input, client, location, key), await permissionsCheck(input, client, location, key));
  }
  return [
    credentials ?? {
      vendor: 's3',
      check: 'credentials',
      status: settings.locations.length ? 'fail' : 'ok',
      detail: settings.locations.length
        ? 'no bucket could be read to check the credentials'
        : 'no locations configured',
    },
    ...checks,
  ];
}

/** Whether the location's prefix holds anything: an empty one is probably mistyped (warn). */
async function prefixCheck(
  input: PreflightInput,
  client: S3Client,
  location: S3Location,
  key: string,
): Promise<VendorCheck> {
  let holdsSomething = false;
  for await (const _ of client.listKeys(location.bucket, location.prefix, input.signal)) {
    holdsSomething = true;
    break;
  }
  return holdsSomething
    ? {
        vendor: 's3',
        check: 'scope',
        key: `${key}.prefix`,
        status: 'ok',
        detail: `${key} s3://${location.bucket}/${location.prefix} holds objects`,
      }
    : {
        vendor: 's3',
        check: 'scope',
        key: `${key}.prefix`,
        status: 'warn',
        detail: `${key}.prefix holds nothing in ${location.bucket}: mistyped? Nothing there can be verified`,
      };
}

/** The jobs rewrite objects and delete versions: write and delete a canary key (never a person's data). */
async function permissionsCheck(
  input: PreflightInput,
  client: S3Client,
  location: S3Location,
  key: string,
): Promise<VendorCheck> {
  const canaryKey = `${location.prefix}.erasure-preflight-${randomBytes(6).toString('hex')}`;
  try {
    const body = Buffer.from('erasure preflight\n');
    const put = await client.putObject({
      bucket: location.bucket,
      key: canaryKey,
      body,
      contentLength: body.length,
      contentType: 'text/plain',
      signal: input.signal,
    });
    await client.deleteVersions(
      location.bucket,
      [{ key: canaryKey, ...(put.versionId ? { versionId: put.versionId } : {}) }],
      input.signal,
    );
    // An unversioned delete leaves nothing; a versioned one without the id would leave a marker, so the id is used.
    return { vendor: 's3', check: 'permissions', key, status: 'ok', detail: `${key}: wrote and deleted a canary key` };
  } catch (err) {
    return {
      vendor: 's3',
      check: 'permissions',
      key,
      status: 'fail',
      detail: `${key}: cannot write and delete objects in ${location.bucket} (${answerOf(err).text})`,
    };
  }
}
