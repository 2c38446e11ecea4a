import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { AuditService } from '../audit/audit.service';
import {
  checkAdminToken,
  generateAdminToken,
  hashAdminToken,
  tokenFingerprint,
  tokenMatches,
} from './admin-token';

const TOKEN_HASH_KEY = 'admin_token_sha256';

export type AdminTokenSource = 'configured' | 'stored' | 'generated';

/**
 * Decides the admin token at start: the configured one (its hash replaces the stored hash), else
 * the hash kept from an earlier start, else a new random token that the CLI prints once. Only the
 * hash is ever stored.
 */
@Injectable()
export class AdminAuthService implements OnModuleInit {
  private tokenHash = '';
  private source: AdminTokenSource = 'stored';
  private generated?: string;

  constructor(
    private readonly config: ConfigService,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    const configured = coordinatorConfig(this.config).adminToken;
    const stored = await this.store.settings.get(TOKEN_HASH_KEY);
    if (configured !== undefined) {
      this.tokenHash = hashAdminToken(checkAdminToken(configured));
      this.source = 'configured';
    } else if (stored) {
      this.tokenHash = stored;
      this.source = 'stored';
    } else {
      this.generated = generateAdminToken();
      this.tokenHash = hashAdminToken(this.generated);
      this.source = 'generated';
    }
    // A generated token is kept only once the operator has seen it (persistGenerated): a start
    // that fails before then must not leave behind the hash of a token nobody knows.
    if (this.source !== 'generated' && this.tokenHash !== stored) await this.persist();
  }

  /**
   * Stores the generated token's hash; call after the token was shown. Until then it works for
   * this process only, and the next start generates a fresh one.
   */
  async persistGenerated(): Promise<void> {
    if (this.source === 'generated') await this.persist();
  }

  private async persist(): Promise<void> {
    await this.store.settings.set(TOKEN_HASH_KEY, this.tokenHash);
    await this.audit.record({
      actor: 'coordinator',
      action: 'auth.token-set',
      outcome: 'ok',
      detail: { source: this.source, fingerprint: tokenFingerprint(this.tokenHash) },
    });
  }

  /** The audit name of the admin when `token` is right, else undefined. */
  authenticate(token: string | undefined): string | undefined {
    if (!token || !this.tokenHash || !tokenMatches(token, this.tokenHash)) return undefined;
    return `admin:${tokenFingerprint(this.tokenHash)}`;
  }

  /** Where the token came from; 'generated' means `generatedToken` must be shown to the operator. */
  get tokenSource(): AdminTokenSource {
    return this.source;
  }

  /** The plain token, only when this start generated it (printed once by the CLI, never logged). */
  get generatedToken(): string | undefined {
    return this.generated;
  }
}
