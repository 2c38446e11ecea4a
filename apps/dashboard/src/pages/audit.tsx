import { useEffect, useState } from 'preact/hooks';
import { ErrorLine } from '../components';
import { Api, errorText } from '../api';
import { AuditEntry } from '../types';

const PAGE_SIZE = 50;
const OUTCOMES = ['', 'ok', 'denied', 'rejected', 'error'];

interface Filter {
  action: string;
  actor: string;
  outcome: string;
  target: string;
}

/** The audit log, newest first, filtered by the API (GET /audit) and paged with its `nextBefore`. */
export function AuditPage({ api }: { api: Api }) {
  const [filter, setFilter] = useState<Filter>({ action: '', actor: '', outcome: '', target: '' });
  const [applied, setApplied] = useState<Filter>(filter);
  const [pages, setPages] = useState<(number | undefined)[]>([undefined]);
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<number | undefined>();
  const [error, setError] = useState('');
  const before = pages[pages.length - 1];

  useEffect(() => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [key, value] of Object.entries(applied)) if (value) query.set(key, value);
    if (before !== undefined) query.set('before', String(before));
    api
      .get<{ entries: AuditEntry[]; nextBefore?: number }>(`/audit?${query}`)
      .then((page) => {
        setEntries(page.entries);
        setNext(page.nextBefore);
        setError('');
      })
      .catch((err) => setError(errorText(err)));
  }, [JSON.stringify(applied), before]);

  const field = (name: keyof Filter, label: string, placeholder: string) => (
    <label>
      {label}
      <input
        name={name}
        value={filter[name]}
        placeholder={placeholder}
        onInput={(e) => setFilter({ ...filter, [name]: (e.target as HTMLInputElement).value })}
      />
    </label>
  );
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form
        class="filters no-print"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(filter);
          setPages([undefined]);
        }}
      >
        {field('action', 'Action', 'runs.create')}
        {field('actor', 'Actor', 'admin:1a2b3c4d')}
        {field('target', 'Target', 'run id, site id')}
        <label>
          Outcome
          <select
            value={filter.outcome}
            onChange={(e) => setFilter({ ...filter, outcome: (e.target as HTMLSelectElement).value })}
          >
            {OUTCOMES.map((o) => (
              <option value={o}>{o || 'any'}</option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorLine text={error} />
      <table class="data audit">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Outcome</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {entries.length === 0 && (
            <tr>
              <td colSpan={7}>No entries.</td>
            </tr>
          )}
          {entries.map((e) => (
            <tr key={e.id} class={`outcome-${e.outcome}`}>
              <td class="num">{e.id}</td>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td class="mono">{e.actor}</td>
              <td class="mono">{e.action}</td>
              <td class="mono">{e.target ?? ''}</td>
              <td>{e.outcome}</td>
              <td class="detail">{e.detail ? JSON.stringify(e.detail) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager no-print" aria-label="Audit pages">
        <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          ← Newer
        </button>
        <span>page {pages.length}</span>
        <button type="button" disabled={next === undefined} onClick={() => setPages([...pages, next])}>
          Older →
        </button>
      </nav>
    </section>
  );
}
