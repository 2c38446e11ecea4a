import { BadRequestException, Inject, Injectable, NotFoundException, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { AuditService } from '../audit/audit.service';
import { checkAdminToken, generateAdminToken, tokenFingerprint } from './admin-token';
import {
  AccessRole,
  AccessTokenView,
  actorName,
  findToken,
  issueToken,
  PRIMARY_ADMIN_TOKEN_ID,
  StoredAccessToken,
  storeToken,
  tokenMatchesStored,
  tokenView,
} from './access-tokens';

/** Settings key of the token table (JSON of StoredAccessToken[]). */
const TOKENS_KEY = 'access_tokens';
/** Where versions before roles kept the one admin token's unsalted hash. */
const LEGACY_HASH_KEY = 'admin_token_sha256';

export type AdminTokenSource = 'configured' | 'stored' | 'generated';

/** Who a request speaks for, once its token matched. */
export interface Caller {
  /** Audit name: `admin:<fingerprint>` / `observer:<fingerprint>`. */
  actor: string;
  role: AccessRole;
  tokenId: string;
}

/** A token just issued or rotated: the plain value is in this answer and nowhere else, ever. */
export type IssuedToken = AccessTokenView & { token: string };

/**
 * The coordinator's access tokens (admin and observer), kept as salted hashes in the settings
 * table. The primary admin token is decided at start as before roles: the configured one
 * (PHCC_ADMIN_TOKEN / --admin-token) replaces the stored one, else the stored one stays, else a new
 * random one is generated and shown once by the CLI. Further tokens are issued, rotated and revoked
 * through /auth/tokens; each plain token is returned exactly once.
 */
@Injectable()
export class AdminAuthService implements OnModuleInit {
  private tokens: StoredAccessToken[] = [];
  private source: AdminTokenSource = 'stored';
  private generated?: string;
  /** The generated primary token is not stored until it was shown (persistGenerated). */
  private primaryUnsaved = false;
  /** Serialises read-modify-write of the token table inside this process. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: ConfigService,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    const configured = coordinatorConfig(this.config).adminToken;
    this.tokens = await this.load();
    const primary = this.tokens.find((t) => t.id === PRIMARY_ADMIN_TOKEN_ID);
    const now = new Date().toISOString();
    let replaced: StoredAccessToken | undefined;
    if (configured !== undefined) {
      checkAdminToken(configured);
      this.source = 'configured';
      if (!primary || !tokenMatchesStored(configured, primary) || !primary.salt) {
        replaced = storeToken(configured, primaryFields(primary, now));
      }
    } else if (primary) {
      this.source = 'stored';
    } else {
      this.generated = generateAdminToken();
      this.source = 'generated';
      replaced = storeToken(this.generated, primaryFields(undefined, now));
    }
    if (replaced) {
      this.tokens = [replaced, ...this.tokens.filter((t) => t.id !== PRIMARY_ADMIN_TOKEN_ID)];
      // A generated token is kept only once the operator has seen it (persistGenerated): a start
      // that fails before then must not leave behind the hash of a token nobody knows.
      if (this.source === 'generated') this.primaryUnsaved = true;
      else await this.savePrimary(replaced);
    }
  }

  /**
   * Stores the generated token's salted hash; call after the token was shown. Until then it works
   * for this process only, and the next start generates a fresh one.
   */
  async persistGenerated(): Promise<void> {
    const primary = this.tokens.find((t) => t.id === PRIMARY_ADMIN_TOKEN_ID);
    if (!this.primaryUnsaved || !primary) return;
    this.primaryUnsaved = false;
    await this.savePrimary(primary);
  }

  private async savePrimary(primary: StoredAccessToken): Promise<void> {
    await this.save();
    await this.audit.record({
      actor: 'coordinator',
      action: 'auth.token-set',
      target: PRIMARY_ADMIN_TOKEN_ID,
      outcome: 'ok',
      detail: { source: this.source, fingerprint: tokenFingerprint(primary.hash) },
    });
  }

  /** Who holds `token`, or undefined when it is no issued token. */
  authenticate(token: string | undefined): Caller | undefined {
    if (!token) return undefined;
    const stored = findToken(token, this.tokens);
    if (!stored) return undefined;
    if (!stored.salt) void this.resalt(stored, token);
    return { actor: actorName(stored), role: stored.role, tokenId: stored.id };
  }

  list(): AccessTokenView[] {
    return this.tokens.map(tokenView);
  }

  issue(role: AccessRole, label: string): Promise<IssuedToken> {
    return this.write(() => {
      const { token, stored } = issueToken({
        id: `${role === 'admin' ? 'a' : 'o'}-${randomBytes(4).toString('hex')}`,
        role,
        label,
        createdAt: new Date().toISOString(),
      });
      this.tokens = [...this.tokens, stored];
      return { token, ...tokenView(stored) };
    });
  }

  /** A new secret for the same id, role and label; the old secret stops working at once. */
  rotate(id: string): Promise<IssuedToken> {
    return this.write(() => {
      const current = this.require(id);
      const { token, stored } = issueToken({ ...current, rotatedAt: new Date().toISOString() });
      this.tokens = this.tokens.map((t) => (t.id === id ? stored : t));
      return { token, ...tokenView(stored) };
    });
  }

  revoke(id: string): Promise<AccessTokenView> {
    return this.write(() => {
      const current = this.require(id);
      if (current.role === 'admin' && this.tokens.filter((t) => t.role === 'admin').length === 1) {
        throw new BadRequestException(
          `token "${id}" is the last admin token; issue another admin token first`,
        );
      }
      this.tokens = this.tokens.filter((t) => t.id !== id);
      return tokenView(current);
    });
  }

  /** Where the primary token came from; 'generated' means `generatedToken` must be shown to the operator. */
  get tokenSource(): AdminTokenSource {
    return this.source;
  }

  /** The plain primary token, only when this start generated it (printed once by the CLI, never logged). */
  get generatedToken(): string | undefined {
    return this.generated;
  }

  private require(id: string): StoredAccessToken {
    const found = this.tokens.find((t) => t.id === id);
    if (!found) throw new NotFoundException(`no access token "${id}"`);
    return found;
  }

  private write<T>(change: () => T): Promise<T> {
    const next = this.writing.then(async () => {
      const result = change();
      await this.save();
      return result;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** A hash carried over from before salts is replaced by a salted one the first time it is used. */
  private resalt(legacy: StoredAccessToken, token: string): Promise<void> {
    return this.write(() => {
      this.tokens = this.tokens.map((t) => (t === legacy ? storeToken(token, legacy) : t));
    });
  }

  private async load(): Promise<StoredAccessToken[]> {
    const text = await this.store.settings.get(TOKENS_KEY);
    if (text) return JSON.parse(text) as StoredAccessToken[];
    const legacy = await this.store.settings.get(LEGACY_HASH_KEY);
    if (!legacy) return [];
    return [{ ...primaryFields(undefined, new Date().toISOString()), salt: '', hash: legacy }];
  }

  private async save(): Promise<void> {
    await this.store.settings.set(TOKENS_KEY, JSON.stringify(this.tokens));
    // The unsalted hash must not outlive its migration.
    if (await this.store.settings.get(LEGACY_HASH_KEY)) await this.store.settings.set(LEGACY_HASH_KEY, '');
  }
}

function primaryFields(previous: StoredAccessToken | undefined, now: string) {
  return {
    id: PRIMARY_ADMIN_TOKEN_ID,
    role: 'admin' as const,
    label: 'primary admin token (PHCC_ADMIN_TOKEN)',
    createdAt: previous?.createdAt ?? now,
    ...(previous ? { rotatedAt: now } : {}),
  };
}
