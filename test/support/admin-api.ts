/**
 * A bearer-token JSON call to a coordinator's admin REST API, for e2e tests. `baseUrl` is read at
 * call time because the coordinator is started (on a free port) after the helper is made.
 */
export function adminApi(baseUrl: () => string, token: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(baseUrl() + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await response.json()) as T;
  };
}
