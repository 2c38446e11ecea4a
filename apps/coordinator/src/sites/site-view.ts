import { SiteRecord } from '../persistence/records';
import { SiteConnection } from './connected-sites';
import { SiteView } from './dto';

/** A site as the API shows it: the enrolment record plus what its live connection says now. */
export function siteView(site: SiteRecord, connection: SiteConnection | undefined): SiteView {
  return {
    ...site,
    revoked: Boolean(site.revokedAt),
    connected: Boolean(connection),
    ...(connection
      ? { connectedAt: connection.connectedAt, lastStatus: connection.lastStatus, agent: connection.agent }
      : {}),
  };
}
