import { Inject, Injectable } from '@nestjs/common';
import { Log } from '../../../../libs/common/src';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { boundedEntry } from './bounded-entry';
import { RefusalThrottle } from './refusal-throttle';
import { AuditQuery, AuditRecord, NewAuditRecord } from '../persistence/records';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';

/**
 * The audit trail: admin actions, refused logins and rejected protocol messages. Entries are
 * appended to the store (append-only, enforced by the database) and echoed to the log.
 */
@Injectable()
export class AuditService {
  private readonly throttle = new RefusalThrottle();

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
  ) {}

  /**
   * A refusal (outcome denied/rejected) caused by someone outside: recorded through the throttle,
   * so a flood is counted instead of written row by row. Returns undefined when left out.
   * `source` keys the throttle: whoever the flood can be held to. By default the actor; a caller
   * whose actor text is an unverified claim (a refused handshake names the site it claimed)
   * passes the source address, or one flooder with many claims would get a row for each.
   */
  async recordRefusal(entry: NewAuditRecord, source = entry.actor): Promise<AuditRecord | undefined> {
    const { record, suppressedBefore } = this.throttle.admit(`${source}|${entry.action}`);
    if (!record) return undefined;
    return this.record(
      suppressedBefore ? { ...entry, detail: { ...entry.detail, suppressedBefore } } : entry,
    );
  }

  async record(entry: NewAuditRecord): Promise<AuditRecord> {
    const saved = await this.store.audit.append(boundedEntry(entry));
    const level = saved.outcome === 'ok' ? 'info' : 'warn';
    this.log[level](
      {
        audit: saved.id,
        actor: saved.actor,
        action: saved.action,
        target: saved.target,
        outcome: saved.outcome,
      },
      'audit',
    );
    return saved;
  }

  /** Newest first; page with `before` = the smallest id of the previous page. */
  query(query: AuditQuery): Promise<AuditRecord[]> {
    return this.store.audit.query(query);
  }
}
