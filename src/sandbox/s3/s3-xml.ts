import XMLBuilder from 'fast-xml-builder';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** The namespace every S3 REST-XML document carries. */
export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * One element in document order. S3 interleaves sibling elements of different names
 * (`<Version>` and `<DeleteMarker>` in ListObjectVersions), so the builder runs in
 * fast-xml-parser's order-preserving mode and documents are written as lists of these.
 */
export type XmlNode = Record<string, XmlNode[] | Record<string, string>> | { '#text': string };

type XmlValue = string | number | boolean | Date;

/** `<name>text</name>`, or `<name>children…</name>`; an undefined value writes nothing. */
export function el(name: string, content: XmlValue | XmlNode[] | undefined): XmlNode[] {
  if (content === undefined) return [];
  if (Array.isArray(content)) return [{ [name]: content }];
  return [{ [name]: [{ '#text': content instanceof Date ? content.toISOString() : String(content) }] }];
}

const builder = new XMLBuilder({ preserveOrder: true, ignoreAttributes: false, suppressEmptyNode: false });

/** A whole S3 document: declaration, then the root element in the S3 namespace, or in none (`null`, as S3's `<Error>`). */
export function xmlDocument(root: string, children: XmlNode[], namespace: string | null = S3_XMLNS): string {
  const node: XmlNode = namespace ? { [root]: children, ':@': { '@_xmlns': namespace } } : { [root]: children };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build([node])}`;
}

/**
 * Parses a request body the way S3 reads it: values stay strings, white space inside values is
 * kept (keys may start or end with spaces), numeric character references are decoded because the
 * SDK writes CR and LF in keys as `&#x0D;` and `&#x0A;`. Undefined when the body is not well-formed.
 */
export function parseXml(body: Buffer, arrays: ReadonlySet<string> = new Set()): Record<string, unknown> | undefined {
  const text = body.toString('utf8');
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- fast-xml-parser 5 still ships and tests its validator; the suggested fast-xml-validator is a separate package this simulator does not need
  if (!text.trim() || XMLValidator.validate(text) !== true) return undefined;
  const parser = new XMLParser({
    ignoreAttributes: true,
    removeNSPrefix: true,
    parseTagValue: false,
    trimValues: false,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the documented way to decode the SDK's &#x0D; / &#x0A; in keys until entityDecoder's replacement is verified to decode them the same (test/sandbox/s3-contract.test.ts)
    htmlEntities: true,
    isArray: (_name: string, jpath: unknown) => arrays.has(String(jpath)),
  });
  return parser.parse(text) as Record<string, unknown>;
}
