import { badRequest, type PinpointApp, type PinpointEndpoint } from './pinpoint-store.js';

/** SetDimension: INCLUSIVE (the default) or EXCLUSIVE match of a value against a list. */
export interface SetDimension {
  DimensionType?: 'INCLUSIVE' | 'EXCLUSIVE';
  Values: string[];
}

export interface AttributeDimension {
  AttributeType?: 'INCLUSIVE' | 'EXCLUSIVE' | 'CONTAINS' | 'BEFORE' | 'AFTER' | 'ON' | 'BETWEEN';
  Values: string[];
}

export interface MetricDimension {
  ComparisonOperator: 'GREATER_THAN' | 'LESS_THAN' | 'GREATER_THAN_OR_EQUAL' | 'LESS_THAN_OR_EQUAL' | 'EQUAL';
  Value: number;
}

/** SegmentDimensions as WriteSegmentRequest carries them (GPS points are kept but not evaluated). */
export interface SegmentDimensions {
  Attributes?: Record<string, AttributeDimension>;
  UserAttributes?: Record<string, AttributeDimension>;
  Metrics?: Record<string, MetricDimension>;
  Behavior?: { Recency?: { Duration: 'HR_24' | 'DAY_7' | 'DAY_14' | 'DAY_30'; RecencyType: 'ACTIVE' | 'INACTIVE' } };
  Demographic?: Partial<Record<'AppVersion' | 'Channel' | 'DeviceType' | 'Make' | 'Model' | 'Platform', SetDimension>>;
  Location?: { Country?: SetDimension; GPSPoint?: unknown };
}

export interface SegmentGroupList {
  Groups?: Array<{
    Dimensions?: SegmentDimensions[];
    SourceSegments?: Array<{ Id: string; Version?: number }>;
    SourceType?: 'ALL' | 'ANY';
    Type?: 'ALL' | 'ANY' | 'NONE';
  }>;
  Include?: 'ALL' | 'ANY' | 'NONE';
}

/** What one segment version says: WriteSegmentRequest plus the type (and, for IMPORT, where it came from). */
export interface SegmentDefinition {
  SegmentType: 'DIMENSIONAL' | 'IMPORT';
  Name?: string;
  Dimensions?: SegmentDimensions;
  SegmentGroups?: SegmentGroupList;
  ImportDefinition?: {
    Format: 'CSV' | 'JSON';
    S3Url: string;
    RoleArn: string;
    ExternalId?: string;
    Size: number;
    ChannelCounts?: Record<string, number>;
  };
  tags?: Record<string, string>;
}

export interface SegmentVersion extends SegmentDefinition {
  Version: number;
  LastModifiedDate: string;
}

export interface PinpointSegment {
  Id: string;
  Arn: string;
  ApplicationId: string;
  CreationDate: string;
  tags: Record<string, string>;
  /** Oldest first; the last one is the current version. */
  versions: SegmentVersion[];
  /**
   * IMPORT segments only: the lower-cased ids of the endpoints the imports put in it. Imported
   * segments are static, so membership never follows later endpoint changes, except that an
   * endpoint deleted from the app is no longer exported.
   */
  members?: Set<string>;
}

/** SegmentResponse for one version (the current one unless a version is named). */
export function segmentResponse(segment: PinpointSegment, version?: SegmentVersion) {
  const v = version ?? segment.versions[segment.versions.length - 1];
  return stripUndefined({
    Id: segment.Id,
    Arn: segment.Arn,
    ApplicationId: segment.ApplicationId,
    CreationDate: segment.CreationDate,
    LastModifiedDate: v.LastModifiedDate,
    Name: v.Name,
    SegmentType: v.SegmentType,
    Version: v.Version,
    Dimensions: v.Dimensions,
    SegmentGroups: v.SegmentGroups,
    ImportDefinition: v.ImportDefinition,
    tags: segment.tags,
  });
}

export function segmentVersion(segment: PinpointSegment, version?: number): SegmentVersion | undefined {
  if (version === undefined) return segment.versions[segment.versions.length - 1];
  return segment.versions.find((v) => v.Version === version);
}

const SET_TYPES = ['INCLUSIVE', 'EXCLUSIVE'];
const ATTRIBUTE_TYPES = ['INCLUSIVE', 'EXCLUSIVE', 'CONTAINS', 'BEFORE', 'AFTER', 'ON', 'BETWEEN'];
const OPERATORS = ['GREATER_THAN', 'LESS_THAN', 'GREATER_THAN_OR_EQUAL', 'LESS_THAN_OR_EQUAL', 'EQUAL'];
const RECENCY_MS: Record<string, number> = {
  HR_24: 86_400_000,
  DAY_7: 7 * 86_400_000,
  DAY_14: 14 * 86_400_000,
  DAY_30: 30 * 86_400_000,
};

/** Rejects criteria Pinpoint would reject as BadRequestException: bad enums, missing values, unknown source segments. */
export function validateSegmentCriteria(
  app: PinpointApp,
  dimensions: SegmentDimensions | undefined,
  groups: SegmentGroupList | undefined,
): void {
  if (dimensions !== undefined) validateDimensions(dimensions);
  if (groups === undefined) return;
  if (typeof groups !== 'object' || groups === null) throw badRequest('SegmentGroups must be an object');
  if (groups.Include !== undefined && !['ALL', 'ANY', 'NONE'].includes(groups.Include))
    throw badRequest('Invalid SegmentGroups Include');
  for (const group of groups.Groups ?? []) {
    if (group.Type !== undefined && !['ALL', 'ANY', 'NONE'].includes(group.Type))
      throw badRequest('Invalid segment group Type');
    if (group.SourceType !== undefined && !['ALL', 'ANY'].includes(group.SourceType))
      throw badRequest('Invalid segment group SourceType');
    for (const d of group.Dimensions ?? []) validateDimensions(d);
    for (const source of group.SourceSegments ?? []) {
      const found = typeof source?.Id === 'string' ? app.segments.get(source.Id.toLowerCase()) : undefined;
      if (!found) throw badRequest('Source segment not found');
      if (source.Version !== undefined && !segmentVersion(found, source.Version))
        throw badRequest('Source segment version not found');
    }
  }
}

function validateDimensions(d: SegmentDimensions): void {
  if (typeof d !== 'object' || d === null) throw badRequest('Dimensions must be an object');
  const sets = [...Object.values(d.Demographic ?? {}), d.Location?.Country].filter(Boolean) as SetDimension[];
  for (const set of sets) {
    if (!Array.isArray(set.Values)) throw badRequest('Dimension Values are required');
    if (set.DimensionType !== undefined && !SET_TYPES.includes(set.DimensionType))
      throw badRequest('Invalid DimensionType');
  }
  for (const attr of [...Object.values(d.Attributes ?? {}), ...Object.values(d.UserAttributes ?? {})]) {
    if (!Array.isArray(attr?.Values)) throw badRequest('Attribute dimension Values are required');
    if (attr.AttributeType !== undefined && !ATTRIBUTE_TYPES.includes(attr.AttributeType))
      throw badRequest('Invalid AttributeType');
  }
  for (const metric of Object.values(d.Metrics ?? {})) {
    if (!OPERATORS.includes(metric?.ComparisonOperator) || typeof metric.Value !== 'number')
      throw badRequest('Invalid metric dimension');
  }
  const recency = d.Behavior?.Recency;
  if (recency && (!(recency.Duration in RECENCY_MS) || !['ACTIVE', 'INACTIVE'].includes(recency.RecencyType))) {
    throw badRequest('Invalid recency dimension');
  }
}

/**
 * The endpoints in one version of a segment, in app order. DIMENSIONAL segments are evaluated
 * against the endpoints as they are now (INACTIVE endpoints included: they still hold personal
 * data); IMPORT segments are their static member list.
 */
export function segmentEndpoints(
  app: PinpointApp,
  segment: PinpointSegment,
  version: SegmentVersion,
  nowMs: number,
): PinpointEndpoint[] {
  const matcher = new SegmentMatcher(app, nowMs);
  return [...app.endpoints.values()].filter((e) => matcher.inVersion(e, segment, version, 0));
}

class SegmentMatcher {
  constructor(
    private readonly app: PinpointApp,
    private readonly nowMs: number,
  ) {}

  inVersion(e: PinpointEndpoint, segment: PinpointSegment, version: SegmentVersion, depth: number): boolean {
    if (depth > 10) return false; // source segments that refer back to each other match nothing
    if (version.SegmentType === 'IMPORT') return segment.members?.has(e.Id.toLowerCase()) ?? false;
    if (version.Dimensions && !this.dimensions(e, version.Dimensions)) return false;
    const groups = version.SegmentGroups?.Groups ?? [];
    if (groups.length === 0) return true;
    const results = groups.map((g) => {
      const sources = g.SourceSegments ?? [];
      const inSource = (s: { Id: string; Version?: number }) => {
        const source = this.app.segments.get(s.Id.toLowerCase());
        const v = source && segmentVersion(source, s.Version);
        return !!source && !!v && this.inVersion(e, source, v, depth + 1);
      };
      const sourceOk =
        sources.length === 0 || (g.SourceType === 'ALL' ? sources.every(inSource) : sources.some(inSource));
      const dims = g.Dimensions ?? [];
      const dimOk =
        dims.length === 0 ||
        (g.Type === 'ANY'
          ? dims.some((d) => this.dimensions(e, d))
          : g.Type === 'NONE'
            ? !dims.some((d) => this.dimensions(e, d))
            : dims.every((d) => this.dimensions(e, d)));
      return sourceOk && dimOk;
    });
    const include = version.SegmentGroups?.Include ?? 'ALL';
    return include === 'ANY'
      ? results.some(Boolean)
      : include === 'NONE'
        ? !results.some(Boolean)
        : results.every(Boolean);
  }

  private dimensions(e: PinpointEndpoint, d: SegmentDimensions): boolean {
    const demo = d.Demographic ?? {};
    const demoValue: Record<string, string | undefined> = {
      AppVersion: e.Demographic?.AppVersion,
      Channel: e.ChannelType,
      DeviceType: e.Demographic?.Platform,
      Make: e.Demographic?.Make,
      Model: e.Demographic?.Model,
      Platform: e.Demographic?.Platform,
    };
    for (const [name, set] of Object.entries(demo)) {
      if (set && !matchSet(demoValue[name], set)) return false;
    }
    if (d.Location?.Country && !matchSet(e.Location?.Country as string | undefined, d.Location.Country)) return false;
    for (const [name, dim] of Object.entries(d.Attributes ?? {}))
      if (!matchAttribute(e.Attributes?.[name], dim)) return false;
    for (const [name, dim] of Object.entries(d.UserAttributes ?? {}))
      if (!matchAttribute(e.User.UserAttributes?.[name], dim)) return false;
    for (const [name, dim] of Object.entries(d.Metrics ?? {})) if (!matchMetric(e.Metrics?.[name], dim)) return false;
    const recency = d.Behavior?.Recency;
    if (recency) {
      // The store keeps no activity log, so the last update stands for the last activity.
      const active = this.nowMs - Date.parse(e.EffectiveDate) <= RECENCY_MS[recency.Duration];
      if (active !== (recency.RecencyType === 'ACTIVE')) return false;
    }
    return true;
  }
}

function matchSet(value: string | undefined, set: SetDimension): boolean {
  const hit = value !== undefined && set.Values.some((v) => v.toLowerCase() === value.toLowerCase());
  return set.DimensionType === 'EXCLUSIVE' ? !hit : hit;
}

function matchAttribute(values: string[] | undefined, dim: AttributeDimension): boolean {
  const have = values ?? [];
  const type = dim.AttributeType ?? 'INCLUSIVE';
  const times = have.map((v) => Date.parse(v)).filter((t) => !Number.isNaN(t));
  const bounds = dim.Values.map((v) => Date.parse(v));
  switch (type) {
    case 'INCLUSIVE':
      return have.some((v) => dim.Values.includes(v));
    case 'EXCLUSIVE':
      return !have.some((v) => dim.Values.includes(v));
    case 'CONTAINS':
      return have.some((v) => dim.Values.some((needle) => v.includes(needle)));
    case 'BEFORE':
      return times.some((t) => t < bounds[0]);
    case 'AFTER':
      return times.some((t) => t > bounds[0]);
    case 'ON':
      return have.some((v) => dim.Values.some((b) => v.slice(0, 10) === b.slice(0, 10)));
    case 'BETWEEN':
      return times.some((t) => t >= bounds[0] && t <= bounds[1]);
  }
}

function matchMetric(value: number | undefined, dim: MetricDimension): boolean {
  if (value === undefined) return false;
  switch (dim.ComparisonOperator) {
    case 'GREATER_THAN':
      return value > dim.Value;
    case 'LESS_THAN':
      return value < dim.Value;
    case 'GREATER_THAN_OR_EQUAL':
      return value >= dim.Value;
    case 'LESS_THAN_OR_EQUAL':
      return value <= dim.Value;
    case 'EQUAL':
      return value === dim.Value;
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
