import { Injectable } from '@nestjs/common';

/** What the coordinator knows about one live site connection. */
export interface SiteConnection {
  siteId: string;
  connectionId: string;
  address: string;
  connectedAt: string;
  /** The latest `status` message the site sent on this connection. */
  lastStatus?: {
    state: string;
    runId?: string;
    round?: number;
    progress?: number;
    message?: string;
    at: string;
  };
  /** Closes the transport (socket.io disconnect). */
  close(reason: string): void;
}

/**
 * Which sites are connected right now (in memory: connections do not survive a restart). One
 * connection per site: a newer authenticated connection replaces the older one, which is closed,
 * so a site that reconnected after a network blip never has two sockets receiving its tasks.
 */
@Injectable()
export class ConnectedSites {
  private readonly bySite = new Map<string, SiteConnection>();

  add(connection: SiteConnection): void {
    const previous = this.bySite.get(connection.siteId);
    this.bySite.set(connection.siteId, connection);
    if (previous && previous.connectionId !== connection.connectionId)
      previous.close('replaced by a newer connection');
  }

  /** Forgets a connection that closed, unless the site has already reconnected on another one. */
  remove(siteId: string, connectionId: string): void {
    if (this.bySite.get(siteId)?.connectionId === connectionId) this.bySite.delete(siteId);
  }

  get(siteId: string): SiteConnection | undefined {
    return this.bySite.get(siteId);
  }

  list(): SiteConnection[] {
    return [...this.bySite.values()].sort((a, b) => a.siteId.localeCompare(b.siteId));
  }

  setStatus(siteId: string, connectionId: string, status: NonNullable<SiteConnection['lastStatus']>): void {
    const connection = this.bySite.get(siteId);
    if (connection?.connectionId === connectionId) connection.lastStatus = status;
  }

  disconnect(siteId: string, reason: string): void {
    const connection = this.bySite.get(siteId);
    if (!connection) return;
    this.bySite.delete(siteId);
    connection.close(reason);
  }
}
