/**
 * An S3 answer other than success. The simulator writes it as
 * `<Error><Code/><Message/>…<RequestId/><HostId/></Error>` with the status, and adds `headers`
 * (S3 tells a delete marker apart from a missing key only by `x-amz-delete-marker`).
 */
export class S3Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra elements S3 puts in the error document, e.g. `Key`, `BucketName`, `ArgumentName`. */
    readonly details: Record<string, string> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'S3Fault';
  }
}

export const noSuchBucket = (bucket: string) =>
  new S3Fault(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });

export const noSuchKey = (key: string, headers: Record<string, string> = {}) =>
  new S3Fault(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key }, headers);

export const noSuchVersion = (key: string, versionId: string) =>
  new S3Fault(404, 'NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId });

export const invalidArgument = (message: string, argumentName: string, argumentValue: string) =>
  new S3Fault(400, 'InvalidArgument', message, { ArgumentName: argumentName, ArgumentValue: argumentValue });

export const malformedXml = () =>
  new S3Fault(
    400,
    'MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema',
  );

/** The status S3 answers a per-key error code with when the same failure hits a single-object call. */
export function statusOfCode(code: string): number {
  switch (code) {
    case 'AccessDenied':
      return 403;
    case 'NoSuchKey':
    case 'NoSuchVersion':
    case 'NoSuchBucket':
      return 404;
    case 'InternalError':
      return 500;
    case 'SlowDown':
    case 'ServiceUnavailable':
      return 503;
    default:
      return 400;
  }
}
