import type { AppCenterClient, AppCenterNotificationOverview } from './appcenter-client.js';
import type { AppCenterContext } from './appcenter-http.js';

const NOTIFICATION_PAGE = 2000;

/** Push notifications: Push_List (every page), Push_Get, Push_Delete. */
export function notificationMethods(
  ctx: AppCenterContext,
): Pick<AppCenterClient, 'listNotifications' | 'getNotificationContent' | 'deleteNotifications'> {
  const { call, appPath, follow } = ctx;
  return {
    async listNotifications(app, signal) {
      const items: AppCenterNotificationOverview[] = [];
      let consistent = true;
      let total: number | undefined;
      // Oldest first: send_time never changes and new notifications land on the last page, so pages do
      // not shift under us the way the default order (`count desc`, moving while a push is delivered) can.
      let url: string | undefined =
        `${appPath(app, '/push/notifications')}?$top=${NOTIFICATION_PAGE}&$orderby=send_time%20asc&$inlinecount=allpages&include_archived=true`;
      const seen = new Set<string>();
      while (url) {
        const { status, body } = await call('Push_List', 'GET', url, { ok: [200], signal });
        if (status === 404 || status === 410) return { gone: true, status };
        const page = (body ?? {}) as { values?: unknown; nextLink?: unknown; total?: unknown };
        for (const n of Array.isArray(page.values) ? page.values : []) {
          if (n && typeof n === 'object' && typeof (n as AppCenterNotificationOverview).notification_id === 'string')
            items.push(n as AppCenterNotificationOverview);
        }
        if (typeof page.total === 'number') {
          if (total !== undefined && page.total !== total) consistent = false;
          total = page.total;
        }
        url = typeof page.nextLink === 'string' && page.nextLink ? follow(page.nextLink, 'Push_List', seen) : undefined;
      }
      if (total !== undefined && new Set(items.map((n) => n.notification_id)).size !== total) consistent = false;
      return { items, consistent };
    },
    async getNotificationContent(app, notificationId, signal) {
      const { status, body } = await call(
        'Push_Get',
        'GET',
        appPath(app, `/push/notifications/${encodeURIComponent(notificationId)}`),
        { ok: [200], signal },
      );
      if (status === 404 || status === 410) return 'absent';
      const content = (body as { notification_content?: unknown } | undefined)?.notification_content;
      return content && typeof content === 'object' ? content : {};
    },
    async deleteNotifications(app, ids, signal) {
      const { status } = await call('Push_Delete', 'DELETE', appPath(app, '/push/notifications'), {
        json: { values: ids },
        ok: [200, 204],
        signal,
      });
      return status === 404 || status === 410 ? { gone: true, status } : 'deleted';
    },
  };
}
