import { Injectable } from '@nestjs/common';
import type { AgentFacts, AnySocket } from '../../../../libs/protocol/src';

/** What the coordinator knows about one live site connection. */
export interface SiteConnection {
  siteId: string;
  connectionId: string;
  address: string;
  connectedAt: string;
  /** The transport: tasks go out on it, round messages come in on it. Absent in listings. */
  socket?: AnySocket;
  /** The protocol minor version the agent stated (libs/protocol MINOR_VERSION_QUERY; 0 = 1.0). */
  protocolMinor: number;
  /** What the agent reported about itself when it connected (version, backend, opt-in cohort counts). */
  agent?: AgentFacts;
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
 * What a site's last connection said, kept once it closed: the "last seen" of an offline site, its
 * agent's version and backend. In memory like the connections, so it covers this start only.
 */
export interface LastSeen {
  at: string;
  agent?: AgentFacts;
  lastStatus?: SiteConnection['lastStatus'];
}

/** Told when a site becomes reachable and when it no longer is (the round engine's site events). */
export interface LinkListener {
  siteLinked(siteId: string): void;
  siteLeft(siteId: string): void;
}

/**
 * The coordinator's one registry of live site connections (in memory: connections do not survive
 * a restart): the sites API lists it, the task dispatcher sends on it, the rounds hear its changes.
 * One connection per site: a newer authenticated connection replaces the older one, which is
 * closed, so a site that reconnected after a network blip never has two sockets receiving tasks.
 */
@Injectable()
export class ConnectedSites {
  private readonly bySite = new Map<string, SiteConnection>();
  private readonly lastSeenBySite = new Map<string, LastSeen>();
  private readonly listeners: LinkListener[] = [];

  listen(listener: LinkListener): void {
    this.listeners.push(listener);
  }

  add(connection: SiteConnection): void {
    const previous = this.bySite.get(connection.siteId);
    this.bySite.set(connection.siteId, connection);
    if (previous && previous.connectionId !== connection.connectionId)
      previous.close('replaced by a newer connection');
    for (const listener of this.listeners) listener.siteLinked(connection.siteId);
  }

  /**
   * Forgets a connection that closed, unless the site has already reconnected on another one;
   * true if the site is now gone.
   */
  remove(siteId: string, connectionId: string): boolean {
    const connection = this.bySite.get(siteId);
    if (connection?.connectionId !== connectionId) return false;
    this.bySite.delete(siteId);
    this.lastSeenBySite.set(siteId, {
      at: new Date().toISOString(),
      agent: connection.agent,
      lastStatus: connection.lastStatus,
    });
    for (const listener of this.listeners) listener.siteLeft(siteId);
    return true;
  }

  get(siteId: string): SiteConnection | undefined {
    return this.bySite.get(siteId);
  }

  /** What the site's last connection said, if it connected since this start and is gone now. */
  lastSeen(siteId: string): LastSeen | undefined {
    return this.bySite.has(siteId) ? undefined : this.lastSeenBySite.get(siteId);
  }

  list(): SiteConnection[] {
    return [...this.bySite.values()].sort((a, b) => a.siteId.localeCompare(b.siteId));
  }

  /** Ids of the connected sites. */
  siteIds(): string[] {
    return [...this.bySite.keys()];
  }

  setStatus(siteId: string, connectionId: string, status: NonNullable<SiteConnection['lastStatus']>): void {
    const connection = this.bySite.get(siteId);
    if (connection?.connectionId === connectionId) connection.lastStatus = status;
  }

  /** Closes a site's connection from this side (revocation); the site is gone at once. */
  disconnect(siteId: string, reason: string): void {
    const connection = this.bySite.get(siteId);
    if (!connection) return;
    this.remove(siteId, connection.connectionId);
    connection.close(reason);
  }
}
