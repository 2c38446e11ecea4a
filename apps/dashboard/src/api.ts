/** A refused or failed API call, with the API's problems (one "field.path: problem" each). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

/**
 * The coordinator's REST API, same origin, with the signed-in token in the Authorization header
 * (never in the URL). Nest answers errors as { message: string | string[], error }.
 */
export class Api {
  constructor(readonly token: string) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return this.request<T>('POST', path, text, body === undefined ? undefined : contentType);
  }

  async request<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(contentType ? { 'content-type': contentType } : {}),
      },
      body,
    });
    const text = await response.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!response.ok) {
      const message = (parsed as { message?: unknown } | undefined)?.message;
      const problems = Array.isArray(message)
        ? message.map(String)
        : [String(message ?? response.statusText)];
      throw new ApiError(response.status, `${response.status}: ${problems.join('; ')}`, problems);
    }
    return parsed as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** One line for any failure: the API's own words when it gave some. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.problems.join('; ');
  return err instanceof Error ? err.message : String(err);
}
