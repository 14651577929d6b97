/** Shared pieces: loading data (once or polled), the error note, empty states, formatting. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import { href } from './router.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  reload: () => void;
}

/**
 * Loads `fn` when `deps` change and, with `everyMs`, again on that period while the page is
 * visible. A failed poll keeps the last data and shows the error beside it.
 */
export function useData<T>(fn: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await fn();
        if (!live) return;
        setData(value);
        setError(undefined);
      } catch (err) {
        if (live) setError(err);
      }
      if (live && everyMs !== undefined) timer = setTimeout(poll, everyMs);
    };
    const poll = () => {
      if (document.hidden) timer = setTimeout(poll, everyMs);
      else void run();
    };
    void run();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

/** An error in words: the problem's code and detail, and the decision that denied, linked. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  if (error instanceof ApiError) {
    return (
      <p class="error" role="alert">
        <strong>{error.code}</strong>: {error.detail}
        {error.decisionId !== undefined && (
          <>
            {' '}
            (decision <a href={href('decisions', error.decisionId)}>{error.decisionId}</a>)
          </>
        )}
      </p>
    );
  }
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

export function Loading() {
  return <p class="muted">Loading…</p>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A loaded list as a table: loading, its empty state, or one row per item under its headers. */
export function ListTable<T>(props: {
  label: string;
  items: T[] | undefined;
  error: unknown;
  empty: string;
  columns: string[];
  row: (item: T) => ComponentChildren;
}) {
  const { label, items, error, empty, columns, row } = props;
  if (items === undefined) return error === undefined ? <Loading /> : null;
  if (items.length === 0) return <Empty>{empty}</Empty>;
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col">{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>{items.map(row)}</tbody>
    </table>
  );
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** RFC 3339 as local date and time, with the exact value on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (iso === null || iso === undefined) return <span class="muted">—</span>;
  const d = new Date(iso);
  return (
    <time dateTime={iso} title={iso}>
      {Number.isNaN(d.getTime()) ? iso : d.toLocaleString()}
    </time>
  );
}

/** A long hex or base64 value, shortened, with the whole on hover. */
export function Short({ value, keep = 12 }: { value: string; keep?: number }) {
  return <code title={value}>{value.length > keep + 1 ? `${value.slice(0, keep)}…` : value}</code>;
}

/**
 * Revoke, after a confirmation: `revoke` calls the API; a failure shows beside the button in
 * words (with its decision), and an already revoked item just says so.
 */
export function RevokeButton({
  revoked,
  revoke,
  onDone,
}: {
  revoked: boolean;
  revoke: () => Promise<unknown>;
  onDone: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const confirm = async () => {
    setError(undefined);
    try {
      await revoke();
      setAsking(false);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  if (revoked) return <span class="muted">revoked</span>;
  return (
    <>
      {asking ? (
        <>
          <button type="button" class="primary" onClick={confirm}>
            Confirm revoke
          </button>{' '}
          <button type="button" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </>
      ) : (
        <button type="button" onClick={() => setAsking(true)}>
          Revoke
        </button>
      )}
      <ErrorNote error={error} />
    </>
  );
}
