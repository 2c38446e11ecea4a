import { SiteRecord } from '../persistence/records';
import { LastSeen, SiteConnection } from './connected-sites';
import { SiteView } from './dto';

/**
 * A site as the API shows it: the enrolment record plus what its live connection says now, or,
 * when it is offline, what its last connection said and when that closed.
 */
export function siteView(
  site: SiteRecord,
  connection: SiteConnection | undefined,
  lastSeen?: LastSeen,
): SiteView {
  return {
    ...site,
    revoked: Boolean(site.revokedAt),
    connected: Boolean(connection),
    ...(connection
      ? { connectedAt: connection.connectedAt, lastStatus: connection.lastStatus, agent: connection.agent }
      : lastSeen
        ? { lastSeenAt: lastSeen.at, lastStatus: lastSeen.lastStatus, agent: lastSeen.agent }
        : {}),
  };
}
