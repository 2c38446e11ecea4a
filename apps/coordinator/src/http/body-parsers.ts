import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonDepthExceeds } from './json-depth';
import { Middleware, Next, pathOf, refuse } from './http-reply';
import { JSON_BODY_LIMIT_BYTES, MAX_JSON_DEPTH, MAX_MODEL_UPLOAD_BYTES } from './request-limits';

/** The part of body-parser's (untyped) API used here. */
interface ParserOptions {
  type?: string | string[];
  limit?: number;
  inflate?: boolean;
  verify?: (req: IncomingMessage, res: ServerResponse, buf: Buffer) => void;
}
interface BodyParserModule {
  json(options: ParserOptions): Middleware;
  text(options: ParserOptions): Middleware;
  raw(options: ParserOptions): Middleware;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- body-parser ships no types
const bodyParser = require('body-parser') as BodyParserModule;

/** YAML plans arrive as text; JSON plans through the JSON parser. */
export const PLAN_TEXT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'];

class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly expose = true;
  constructor() {
    super(`request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/**
 * The coordinator's body parsers, each with its own limit, installed after the auth gate so no
 * body is read for a caller without a token:
 * - JSON and YAML text: 1 MiB after decompression, bracket nesting ≤ MAX_JSON_DEPTH;
 * - octet-stream: only on `POST /models` (512 MiB), and only uncompressed — weights do not
 *   compress, so a gzip upload there can only be an inflation bomb (this makes the inflation
 *   ratio cap 1 where the limit is large, and 1 MiB of output bounds it everywhere else).
 * Parser failures are one-line JSON errors in Nest's shape, never an HTML stack page.
 */
export function bodyParsers(): Middleware[] {
  const verify: ParserOptions['verify'] = (_req, _res, buf) => {
    if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) throw new JsonTooDeepError();
  };
  const json = bodyParser.json({ limit: JSON_BODY_LIMIT_BYTES, verify });
  // YAML flow collections nest with the same brackets; block nesting costs indentation, so 1 MiB
  // cannot nest deeply that way.
  const text = bodyParser.text({ type: PLAN_TEXT_TYPES, limit: JSON_BODY_LIMIT_BYTES, verify });
  const model = bodyParser.raw({
    type: 'application/octet-stream',
    limit: MAX_MODEL_UPLOAD_BYTES,
    inflate: false,
  });
  const modelRoute: Middleware = (req, res, next) => {
    if (req.method === 'POST' && pathOf(req).replace(/\/+$/, '') === '/models') model(req, res, next);
    else next();
  };
  return [json, text, modelRoute].map(reportingErrors);
}

/** body-parser errors carry `status`/`expose`; answer them directly as JSON. */
function reportingErrors(parser: Middleware): Middleware {
  return (req, res, next: Next) =>
    parser(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as {
        status?: number;
        statusCode?: number;
        expose?: boolean;
        message?: string;
        type?: string;
      };
      const status = e.status ?? e.statusCode ?? 400;
      if (status >= 500) return next(err);
      refuse(
        res,
        status,
        status === 413 ? 'Payload Too Large' : status === 415 ? 'Unsupported Media Type' : 'Bad Request',
        describe(e),
      );
    });
}

function describe(e: { type?: string; message?: string }): string {
  switch (e.type) {
    case 'entity.too.large':
      return 'request body too large for this route (limits are counted after decompression)';
    case 'encoding.unsupported':
      return 'compressed bodies are not accepted on this route (send it uncompressed)';
    case 'entity.parse.failed':
      return `request body is not valid JSON (${e.message ?? ''})`;
    default:
      return e.message ?? 'unreadable request body';
  }
}
