/**
 * The signed-in token lives in sessionStorage only: gone when the tab closes, never in a URL, a
 * cookie or localStorage, so it is not sent anywhere the user did not send it.
 */
const KEY = 'phcc-fed.token';

export type Role = 'admin' | 'observer';

export interface Session {
  token: string;
  role: Role;
  actor: string;
}

export function savedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
