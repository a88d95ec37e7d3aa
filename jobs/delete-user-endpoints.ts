import type { PinpointClient } from '../src/vendors/pinpoint-client.js';
import { TransientVendorError } from '../src/vendors/vendor-errors.js';
import { isGone } from '../src/vendors/pinpoint-client.js';
import { scopeGone, verifiedAbsent } from '../src/receipts/verification.js';
import { requireClient, resourceValue, type TaskProcessor } from '../src/connectors/processor-contract.js';

/**
 * Pinpoint by user id: record what exists (GetUserEndpoints), delete it (DeleteUserEndpoints),
 * read back to verify nothing is left. Safe to run twice: a re-run that finds nothing reports
 * what the earlier run deleted, from its checkpoint.
 *
 * Pinpoint answers 404 alike for an unknown user and an unknown app, so an empty answer is trusted
 * only after GetApp confirms the app in this run (README "Verification values"): a mistyped app id is a
 * MisconfiguredVendorError naming `vendors.pinpoint.appIds[i]`; Pinpoint past its end of support is
 * `scope_gone` with its answer and the date, and so is an app seen before that now answers 404
 * (src/ledger/scope-sightings.ts), with its answer and `lastSeenAt`.
 */
export const deleteUserEndpoints: TaskProcessor<PinpointClient> = async (input, deps) => {
  const pinpoint = requireClient(deps, 'pinpoint');
  const appId = resourceValue(input.resource, 'app');
  const userId = input.subject.userId;
  if (!userId) return { outcome: 'skipped', evidence: { reason: 'no user id for this person' } };

  const found = await pinpoint.getUserEndpoints({ appId, userId, signal: input.signal });
  if (found.length === 0) {
    const app = await pinpoint.confirmApp({ appId, signal: input.signal, sightings: deps.scopeSightings });
    if (isGone(app)) {
      return {
        outcome: 'not_found',
        evidence: {
          appId,
          appGone: true,
          vendorAnswer: app.vendorAnswer,
          ...(app.endOfSupportAt ? { endOfSupportAt: app.endOfSupportAt } : {}),
          ...(app.lastSeenAt ? { lastSeenAt: app.lastSeenAt } : {}),
          endpointsFound: 0,
          endpointsDeleted: 0,
          ...scopeGone(),
        },
      };
    }
  }
  const earlier = typeof input.previous.endpointsFound === 'number' ? input.previous.endpointsFound : 0;
  let deleted: string[] = [];
  if (found.length > 0) {
    // The app answered with endpoints: it exists (src/ledger/scope-sightings.ts).
    if (deps.scopeSightings) {
      const index = pinpoint.settings.appIds.indexOf(appId);
      await deps.scopeSightings.seen({
        vendor: 'pinpoint',
        configKey: `vendors.pinpoint.appIds[${index < 0 ? '?' : index}]`,
        scopeId: appId,
      });
    }
    await input.checkpoint({ appId, endpointsFound: found.length, endpointIds: found.map((e) => e.id) });
    deleted = (await pinpoint.deleteUserEndpoints({ appId, userId, signal: input.signal })).map((e) => e.id);
  }
  const left = await pinpoint.getUserEndpoints({ appId, userId, signal: input.signal });
  if (left.length > 0) {
    throw new TransientVendorError(
      { vendor: 'pinpoint', operation: 'GetUserEndpoints' },
      `still lists ${left.length} endpoint(s) after deletion`,
    );
  }

  const endpointsFound = found.length > 0 ? found.length : earlier;
  const evidence = {
    appId,
    endpointsFound,
    // Verified absent: every endpoint found is gone, whether this run's call or a killed earlier
    // run's late call removed it, so the task deleted all of them.
    endpointsDeleted: found.length > 0 ? Math.max(deleted.length, found.length) : earlier,
    endpointIds: found.length > 0 ? found.map((e) => e.id) : (input.previous.endpointIds ?? []),
    channels: [...new Set(found.map((e) => e.channelType).filter(Boolean))],
    // The app answered in this run (endpoints listed, or GetApp), and the read-back found nothing left.
    ...verifiedAbsent(),
  };
  return { outcome: endpointsFound > 0 ? 'succeeded' : 'not_found', evidence };
};
