import { randomUUID } from 'node:crypto';
import { seededId } from '../seed.js';
import type { PinpointSegment, SegmentDefinition } from './pinpoint-segment.js';
import type { PinpointExportJob, PinpointImportJob } from './pinpoint-job.js';
import { EndpointTable } from './endpoint-table.js';

/** An endpoint as Pinpoint returns it (EndpointResponse); dates are ISO strings. */
export interface PinpointEndpoint {
  Id: string;
  ApplicationId: string;
  Address?: string;
  ChannelType?: string;
  EndpointStatus: 'ACTIVE' | 'INACTIVE';
  OptOut: string;
  CohortId: string;
  CreationDate: string;
  EffectiveDate: string;
  RequestId?: string;
  Attributes?: Record<string, string[]>;
  Metrics?: Record<string, number>;
  Demographic?: Record<string, string>;
  Location?: Record<string, string | number>;
  User: { UserId?: string; UserAttributes?: Record<string, string[]> };
}

export interface PinpointApp {
  Id: string;
  Arn: string;
  Name: string;
  CreationDate: string;
  tags: Record<string, string>;
  /**
   * Keyed by lower-cased id: Pinpoint endpoint ids are case-insensitive. Endpoint objects are
   * never changed in place (every change stores a new object), so an export can snapshot the
   * app by copying references.
   */
  endpoints: EndpointTable;
  /** Segments by id, in creation order. */
  segments: Map<string, PinpointSegment>;
  /** Export and import jobs by id, in creation order; they go with the app on DeleteApp. */
  exportJobs: Map<string, PinpointExportJob>;
  importJobs: Map<string, PinpointImportJob>;
}

/** A request to create or update an endpoint (EndpointRequest / EndpointBatchItem). */
export type EndpointInput = Partial<Omit<PinpointEndpoint, 'ApplicationId' | 'CohortId' | 'CreationDate'>>;

/** A Pinpoint answer other than success: the simulator turns it into the wire error. */
export class PinpointFault extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = 'PinpointFault';
  }
}

const PUSH_CHANNELS = new Set(['GCM', 'APNS', 'APNS_SANDBOX', 'APNS_VOIP', 'APNS_VOIP_SANDBOX', 'ADM', 'BAIDU']);
/** Current Pinpoint quota (docs/vendors/pinpoint.md, "Endpoints per user id"). */
export const MAX_ENDPOINTS_PER_USER = 15;

/** One deletion the simulator carried out: whose endpoints, and how many went (tests check nothing was erased twice or by mistake). */
export interface PinpointDeletion {
  operation: 'DeleteEndpoint' | 'DeleteUserEndpoints';
  appId: string;
  /** The user the deleted endpoints belonged to (undefined for an anonymous endpoint). */
  userId: string | undefined;
  count: number;
}

export const notFound = (what = 'Resource not found') => new PinpointFault(404, 'NotFoundException', what);
export const badRequest = (what: string) => new PinpointFault(400, 'BadRequestException', what);

/** The simulator's state: apps and their endpoints, with Pinpoint's rules for writing them. */
export class PinpointStore {
  readonly apps = new Map<string, PinpointApp>();
  /** Every deletion, in order (the sandbox's own record; its people are simulated). */
  readonly deletions: PinpointDeletion[] = [];

  createApp(name: string, tags: Record<string, string> = {}, id = randomUUID().replace(/-/g, '')): PinpointApp {
    const app: PinpointApp = {
      Id: id,
      Arn: `arn:aws:mobiletargeting:us-east-1:123456789012:apps/${id}`,
      Name: name,
      CreationDate: new Date().toISOString(),
      tags,
      endpoints: new EndpointTable(),
      segments: new Map(),
      exportJobs: new Map(),
      importJobs: new Map(),
    };
    this.apps.set(id.toLowerCase(), app);
    return app;
  }

  app(appId: string): PinpointApp {
    const app = this.apps.get(appId.toLowerCase());
    if (!app) throw notFound();
    return app;
  }

  deleteApp(appId: string): PinpointApp {
    const app = this.app(appId);
    this.apps.delete(appId.toLowerCase());
    return app;
  }

  createSegment(
    appId: string,
    definition: SegmentDefinition,
    now: Date,
    id = randomUUID().replace(/-/g, ''),
  ): PinpointSegment {
    const app = this.app(appId);
    const stamp = now.toISOString();
    const segment: PinpointSegment = {
      Id: id,
      Arn: `${app.Arn}/segments/${id}`,
      ApplicationId: app.Id,
      CreationDate: stamp,
      tags: definition.tags ?? {},
      versions: [{ ...definition, Version: 1, LastModifiedDate: stamp }],
    };
    if (definition.SegmentType === 'IMPORT') segment.members = new Set();
    app.segments.set(id.toLowerCase(), segment);
    return segment;
  }

  segment(appId: string, segmentId: string): PinpointSegment {
    const segment = this.app(appId).segments.get(segmentId.toLowerCase());
    if (!segment) throw notFound();
    return segment;
  }

  /** UpdateSegment: a new version with the new criteria; older versions stay readable (and exportable). */
  updateSegment(
    appId: string,
    segmentId: string,
    definition: Omit<SegmentDefinition, 'SegmentType'>,
    now: Date,
  ): PinpointSegment {
    const segment = this.segment(appId, segmentId);
    const latest = segment.versions[segment.versions.length - 1];
    if (latest.SegmentType === 'IMPORT' && (definition.Dimensions || definition.SegmentGroups)) {
      throw badRequest('An imported segment cannot have dimensions');
    }
    segment.versions.push({
      ...latest,
      ...stripUndefined(definition),
      SegmentType: latest.SegmentType,
      Version: latest.Version + 1,
      LastModifiedDate: now.toISOString(),
    });
    if (definition.tags) segment.tags = definition.tags;
    return segment;
  }

  deleteSegment(appId: string, segmentId: string): PinpointSegment {
    const segment = this.segment(appId, segmentId);
    this.app(appId).segments.delete(segmentId.toLowerCase());
    return segment;
  }

  getEndpoint(appId: string, endpointId: string): PinpointEndpoint {
    const endpoint = this.app(appId).endpoints.get(endpointId.toLowerCase());
    if (!endpoint) throw notFound();
    return endpoint;
  }

  deleteEndpoint(appId: string, endpointId: string): PinpointEndpoint {
    const endpoint = this.getEndpoint(appId, endpointId);
    this.app(appId).endpoints.delete(endpointId.toLowerCase());
    this.deletions.push({ operation: 'DeleteEndpoint', appId, userId: endpoint.User.UserId, count: 1 });
    return endpoint;
  }

  userEndpoints(appId: string, userId: string): PinpointEndpoint[] {
    return this.app(appId).endpoints.ofUser(userId);
  }

  deleteUserEndpoints(appId: string, userId: string): PinpointEndpoint[] {
    const app = this.app(appId);
    const deleted = this.userEndpoints(appId, userId);
    for (const endpoint of deleted) app.endpoints.delete(endpoint.Id.toLowerCase());
    this.deletions.push({ operation: 'DeleteUserEndpoints', appId, userId, count: deleted.length });
    return deleted;
  }

  /** UpdateEndpoint semantics: create or merge, stamp dates, mark older same-address endpoints INACTIVE, enforce per-user limits. */
  upsertEndpoint(appId: string, endpointId: string, input: EndpointInput, now = new Date()): PinpointEndpoint {
    validateEndpointId(endpointId);
    validateAttributes(input);
    const app = this.app(appId);
    const key = endpointId.toLowerCase();
    const existing = app.endpoints.get(key);
    const stamp = now.toISOString();
    const userId = input.User?.UserId ?? existing?.User.UserId;
    if (userId && existing?.User.UserId !== userId)
      this.makeRoomForUser(app, userId, input.ChannelType ?? existing?.ChannelType);
    const endpoint: PinpointEndpoint = {
      ...(existing ?? {}),
      ...stripUndefined(input),
      Id: existing?.Id ?? endpointId,
      ApplicationId: app.Id,
      CohortId: existing?.CohortId ?? String(parseInt(seededId('cohort', endpointId).slice(0, 6), 16) % 100),
      CreationDate: existing?.CreationDate ?? stamp,
      EffectiveDate: input.EffectiveDate ?? stamp,
      EndpointStatus: 'ACTIVE',
      OptOut: input.OptOut ?? existing?.OptOut ?? 'NONE',
      User: { ...(existing?.User ?? {}), ...(input.User ?? {}) },
    };
    if (endpoint.Address) {
      for (const [otherKey, other] of app.endpoints) {
        if (otherKey !== key && other.Address === endpoint.Address && other.EndpointStatus !== 'INACTIVE') {
          app.endpoints.set(otherKey, { ...other, EndpointStatus: 'INACTIVE' });
        }
      }
    }
    app.endpoints.set(key, endpoint);
    return endpoint;
  }

  /** Pinpoint's 15-endpoints-per-user rule: push channels evict the oldest push endpoint, others are refused. */
  private makeRoomForUser(app: PinpointApp, userId: string, channel: string | undefined): void {
    const owned = app.endpoints.ofUser(userId);
    if (owned.length < MAX_ENDPOINTS_PER_USER) return;
    const pushOwned = owned.filter((e) => PUSH_CHANNELS.has(e.ChannelType ?? ''));
    if (!channel || !PUSH_CHANNELS.has(channel) || pushOwned.length === 0) {
      throw badRequest(`Exceeded maximum endpoint per user count ${MAX_ENDPOINTS_PER_USER}`);
    }
    const oldest = pushOwned.sort((a, b) => a.EffectiveDate.localeCompare(b.EffectiveDate))[0];
    const { UserId: _evicted, ...user } = oldest.User;
    app.endpoints.set(oldest.Id.toLowerCase(), { ...oldest, EndpointStatus: 'INACTIVE', User: user });
  }
}

function validateEndpointId(id: string): void {
  if (!id || /[${}]/.test(id)) throw badRequest('Endpoint ID cannot contain $, { or }');
}

function validateAttributes(input: EndpointInput): void {
  const maps = [input.Attributes, input.User?.UserAttributes].filter(Boolean) as Array<Record<string, string[]>>;
  for (const map of maps) {
    for (const [name, values] of Object.entries(map)) {
      if (name.length > 50) throw badRequest('Attribute name exceeds 50 characters');
      if (!Array.isArray(values)) throw badRequest('Attribute values must be a list');
      if (values.length > 50) throw badRequest('Attribute has more than 50 values');
      if (values.some((v) => v.length > 100)) throw badRequest('Attribute value exceeds 100 characters');
    }
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
