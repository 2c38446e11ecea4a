/**
 * What one HTTP request may cost the coordinator before it is refused (docs/SECURITY.md). Every
 * size is counted after decompression: body-parser measures the inflated stream.
 */

/** Any JSON or YAML body (plans, revocations): far above the largest real plan. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

/** Largest model upload (POST /models only) held in memory; far above the full-size model's weights. */
export const MAX_MODEL_UPLOAD_BYTES = 512 * 1024 * 1024;

/**
 * Deepest nesting of arrays/objects accepted in a JSON body. A plan is ~4 levels deep; without a
 * bound a 100,000-deep body overflows the stack in validation (a 500 instead of a 400).
 */
export const MAX_JSON_DEPTH = 64;

/** Refusals (401/403) one source address may earn per window before every request from it gets 429. */
export const REFUSALS_PER_WINDOW = 30;
export const REFUSAL_WINDOW_MS = 60_000;

/** Longest request path or other caller-chosen text copied into the audit log or a log line. */
export const MAX_AUDITED_TEXT = 256;
