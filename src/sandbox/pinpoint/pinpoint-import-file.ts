import type { EndpointInput } from './pinpoint-store.js';

/** An endpoint definition as an import file carries it: EndpointRequest fields plus an optional Id. */
export type ImportedEndpoint = EndpointInput & { Id?: string };

/** One endpoint definition read from an import file, or why its line could not be read. */
export type ImportRow = { where: string; endpoint: ImportedEndpoint } | { where: string; error: string };

const TOP_LEVEL = new Set(['ChannelType', 'Address', 'Id', 'EffectiveDate', 'OptOut', 'RequestId', 'EndpointStatus']);
const LOCATION = new Set(['City', 'Country', 'Latitude', 'Longitude', 'PostalCode', 'Region']);
const DEMOGRAPHIC = new Set([
  'AppVersion',
  'Locale',
  'Make',
  'Model',
  'ModelVersion',
  'Platform',
  'PlatformVersion',
  'Timezone',
]);

/** gzip's magic number: Pinpoint does not accept compressed import files. */
export function isCompressed(body: Buffer): boolean {
  return body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
}

/** Newline-delimited JSON, one endpoint definition per line (vendor-contracts §1.7). */
export function parseNdjson(name: string, text: string): ImportRow[] {
  const rows: ImportRow[] = [];
  stripBom(text)
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${name} line ${i + 1}`;
      try {
        const value = JSON.parse(line) as unknown;
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          rows.push({ where, error: `${where}: not a JSON object` });
        else rows.push({ where, endpoint: value });
      } catch {
        rows.push({ where, error: `${where}: invalid JSON` });
      }
    });
  return rows;
}

/**
 * CSV with dotted headers (`Location.Country`, `User.UserAttributes.plan`); a repeated
 * `Attributes.*` or `User.UserAttributes.*` column adds another value; `"` quotes values
 * holding commas or quotes; tabs are not allowed anywhere.
 */
export function parseCsv(name: string, text: string): ImportRow[] {
  const lines = stripBom(text).split(/\r?\n/);
  const headerLine = lines[0] ?? '';
  const header = splitCsvLine(headerLine);
  const rows: ImportRow[] = [];
  if (!header || header.length === 0 || header.every((h) => !h))
    return [{ where: `${name} line 1`, error: `${name}: missing header row` }];
  const unknown = header.find((h) => !knownColumn(h));
  lines.slice(1).forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${name} line ${i + 2}`;
    if (unknown !== undefined) return rows.push({ where, error: `${where}: unsupported column "${unknown}"` });
    if (line.includes('\t')) return rows.push({ where, error: `${where}: tabs are not allowed` });
    const cells = splitCsvLine(line);
    if (!cells) return rows.push({ where, error: `${where}: unterminated quoted value` });
    if (cells.length > header.length) return rows.push({ where, error: `${where}: more values than columns` });
    rows.push({ where, endpoint: rowToEndpoint(header, cells) });
  });
  return rows;
}

function knownColumn(column: string): boolean {
  const parts = column.split('.');
  if (parts.length === 1) return TOP_LEVEL.has(column);
  const [head, second] = parts;
  if (head === 'Location') return parts.length === 2 && LOCATION.has(second);
  if (head === 'Demographic') return parts.length === 2 && DEMOGRAPHIC.has(second);
  if (head === 'Attributes' || head === 'Metrics') return parts.length >= 2 && !!second;
  if (head === 'User')
    return column === 'User.UserId' || (second === 'UserAttributes' && parts.length >= 3 && !!parts[2]);
  return false;
}

function rowToEndpoint(header: string[], cells: string[]): ImportedEndpoint {
  const endpoint: Record<string, unknown> & EndpointInput = {};
  header.forEach((column, i) => {
    const value = cells[i];
    if (value === undefined || value === '') return;
    const [head, ...rest] = column.split('.');
    const name = rest.join('.');
    if (rest.length === 0) endpoint[head] = value;
    else if (head === 'Location') {
      endpoint.Location = {
        ...endpoint.Location,
        [name]: name === 'Latitude' || name === 'Longitude' ? Number(value) : value,
      };
    } else if (head === 'Demographic') endpoint.Demographic = { ...endpoint.Demographic, [name]: value };
    else if (head === 'Attributes') endpoint.Attributes = appendValue(endpoint.Attributes, name, value);
    else if (head === 'Metrics') endpoint.Metrics = { ...endpoint.Metrics, [name]: Number(value) };
    else if (column === 'User.UserId') endpoint.User = { ...endpoint.User, UserId: value };
    else {
      const attribute = rest.slice(1).join('.');
      endpoint.User = {
        ...endpoint.User,
        UserAttributes: appendValue(endpoint.User?.UserAttributes, attribute, value),
      };
    }
  });
  return endpoint;
}

function appendValue(map: Record<string, string[]> | undefined, name: string, value: string): Record<string, string[]> {
  return { ...map, [name]: [...(map?.[name] ?? []), value] };
}

/** Splits one CSV line; undefined when a quoted value is not closed. */
function splitCsvLine(line: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) return undefined;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i++];
      }
      cells.push(value);
      if (i < line.length && line[i] !== ',') return undefined;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      cells.push(line.slice(i, end).trim());
      i = end + 1;
    }
  }
  return cells;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
