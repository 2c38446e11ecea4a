import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (#/runs, #/runs/ID, #/sites, #/audit): the coordinator serves one page and needs no
 * fallback routing, and the token never appears in any URL.
 */
export function useRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'runs').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}
