import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { Api, errorText } from '../api';
import { valuesOf } from '../live';
import { Session } from '../session';
import { SiteInfo } from '../types';
import { LiveBadge, useLive } from '../use-live';
import { ErrorLine, time } from '../components';

export function SitesPage({ api, session }: { api: Api; session: Session }) {
  const { maps, status, detail } = useLive('/events/sites', session.token);
  const sites = valuesOf<SiteInfo>(maps, 'site').sort((a, b) => a.id.localeCompare(b.id));
  const [revoking, setRevoking] = useState<SiteInfo | null>(null);
  return (
    <section aria-labelledby="sites-title">
      <div class="title-row">
        <h1 id="sites-title">Sites</h1>
        <LiveBadge status={status} detail={detail} />
      </div>
      <table class="data sites">
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">Key fingerprint</th>
            <th scope="col">Connection</th>
            <th scope="col">Agent status</th>
            <th scope="col">Agent version · backend · cohort</th>
            <th scope="col">Enrolled</th>
            {session.role === 'admin' && (
              <th scope="col" class="no-print">
                Actions
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {sites.map((site) => (
            <tr key={site.id} data-site={site.id} class={site.revoked ? 'revoked' : ''}>
              <th scope="row">{site.id}</th>
              <td class="mono">{site.fingerprint}</td>
              <td>
                {site.revoked ? (
                  <span class="state state-failed">revoked</span>
                ) : site.connected ? (
                  <span class="state state-running">connected</span>
                ) : (
                  <span class="state state-created">offline</span>
                )}
                <div class="small">
                  {site.revoked
                    ? `${time(site.revokedAt)}: ${site.revokedReason ?? ''}`
                    : site.connected
                      ? `since ${time(site.connectedAt)}`
                      : site.lastSeenAt
                        ? `last seen ${time(site.lastSeenAt)}`
                        : 'not seen since the coordinator started'}
                </div>
              </td>
              <td>
                {site.lastStatus ? (
                  <>
                    {site.lastStatus.state}
                    {site.lastStatus.progress !== undefined &&
                      ` ${Math.round(site.lastStatus.progress * 100)} %`}
                    <div class="small">{site.lastStatus.message}</div>
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td class="small agent">{agentSummary(site)}</td>
              <td>{time(site.enrolledAt)}</td>
              {session.role === 'admin' && (
                <td class="no-print">
                  {!site.revoked && (
                    <button type="button" class="danger" onClick={() => setRevoking(site)}>
                      Revoke…
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {revoking && <RevokeDialog api={api} site={revoking} onDone={() => setRevoking(null)} />}
    </section>
  );
}

/** Revocation is for good: the admin types the site's id to confirm, and gives a reason for the audit log. */
function RevokeDialog({ api, site, onDone }: { api: Api; site: SiteInfo; onDone: () => void }) {
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState('');
  const first = useRef<HTMLInputElement>(null);
  // Keyboard users land in the dialog (the autofocus attribute is ignored once a page has used
  // one, as the sign-in form has) and leave it with Escape, back on the button that opened it.
  // A layout effect, so focus moves in the same commit that draws the dialog, not a frame later.
  useLayoutEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    first.current?.focus();
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && onDone();
    addEventListener('keydown', onKey);
    return () => {
      removeEventListener('keydown', onKey);
      opener?.focus();
    };
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await api.post(`/sites/${encodeURIComponent(site.id)}/revoke`, { reason });
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div class="dialog-backdrop">
      <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="revoke-title" onSubmit={submit}>
        <h2 id="revoke-title">Revoke {site.id}</h2>
        <p>
          The site&rsquo;s key is refused from now on: its connection is closed and its handshakes and updates
          are rejected. This cannot be undone from the dashboard.
        </p>
        <label for="revoke-reason">Reason (kept in the audit log)</label>
        <input
          id="revoke-reason"
          value={reason}
          required
          maxLength={500}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          ref={first}
        />
        <label for="revoke-confirm">
          Type <code>{site.id}</code> to confirm
        </label>
        <input
          id="revoke-confirm"
          value={typed}
          autocomplete="off"
          onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
        />
        <ErrorLine text={error} />
        <div class="actions">
          <button type="submit" class="danger" disabled={typed !== site.id || !reason.trim()}>
            Revoke {site.id}
          </button>
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}

/** Version · backend · cohort counts, as the site's agent reported them when it (last) connected. */
function agentSummary(site: SiteInfo): string {
  if (!site.connected && !site.lastSeenAt) return '—';
  const agent = site.agent;
  if (!agent || (!agent.version && !agent.backend)) return 'not reported by this agent version';
  const cohort = agent.cohort
    ? `${agent.cohort.train} train · ${agent.cohort.val} val · ${agent.cohort.test} test (${agent.cohort.labelled} labelled)`
    : 'cohort not reported';
  return [agent.version ? `v${agent.version}` : undefined, agent.backend, cohort].filter(Boolean).join(' · ');
}
