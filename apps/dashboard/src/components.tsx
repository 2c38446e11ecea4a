/** Small pieces every page uses. */

/** A failure in one line, announced to screen readers; nothing when there is none. */
export function ErrorLine({ text }: { text: string }) {
  if (!text) return null;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

export function time(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}
