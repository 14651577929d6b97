/**
 * Decisions: the log's decisions filtered by verdict, code, caller, action, target and time, a
 * page at a time (newest first); and one decision with its reasoning chain, the trust score's
 * per-feature contributions, the MCP rule results and invariant verdicts, and Replay.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { go, href, route } from '../router.ts';
import type { Decision, DecisionPage, DecisionPayload, Replay, SealedRecord } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Short, Time, useData } from '../ui.tsx';

const FILTERS = ['verdict', 'code', 'subject', 'action', 'target', 'since', 'until'] as const;
const PAGE_SIZE = 50;

/** datetime-local (local time) ⇄ RFC 3339 UTC. */
function toIso(local: string): string {
  if (local === '') return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
function toLocal(iso: string | null): string {
  if (iso === null || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function Verdict({ verdict }: { verdict: string }) {
  return <span class={`verdict-${verdict}`}>{verdict === 'allow' ? 'allowed' : 'denied'}</span>;
}

function FilterForm({ query }: { query: URLSearchParams }) {
  const submit = (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const q: Record<string, string> = {};
    for (const f of FILTERS) {
      const v = String(data.get(f) ?? '').trim();
      q[f] = f === 'since' || f === 'until' ? toIso(v) : v;
    }
    go(['decisions'], q);
  };
  const v = (f: string) => query.get(f) ?? '';
  return (
    <form class="filters" onSubmit={submit} aria-label="Filter decisions">
      <label>
        Verdict
        <select name="verdict" value={v('verdict')}>
          <option value="">any</option>
          <option value="allow">allowed</option>
          <option value="deny">denied</option>
        </select>
      </label>
      <label>
        Code
        <input name="code" value={v('code')} placeholder="loa_insufficient" />
      </label>
      <label>
        Caller
        <input name="subject" value={v('subject')} placeholder="did:sigil:…" />
      </label>
      <label>
        Action
        <input name="action" value={v('action')} placeholder="memory.*" />
      </label>
      <label>
        Target contains
        <input name="target" value={v('target')} />
      </label>
      <label>
        From
        <input type="datetime-local" name="since" value={toLocal(query.get('since'))} />
      </label>
      <label>
        Until
        <input type="datetime-local" name="until" value={toLocal(query.get('until'))} />
      </label>
      <button type="submit" class="primary">
        Filter
      </button>
      <button type="button" onClick={() => go(['decisions'])}>
        Clear
      </button>
    </form>
  );
}

function DecisionList({ query }: { query: URLSearchParams }) {
  const key = query.toString();
  // One page at a time: `before` comes from the page shown, older pages replace it.
  const [before, setBefore] = useState<{ key: string; stack: string[] }>({ key, stack: [] });
  const stack = before.key === key ? before.stack : [];
  const current = stack[stack.length - 1];
  const page = useData(() => {
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const v = query.get(f);
      if (v !== null && v !== '') q.set(f, v);
    }
    q.set('limit', String(PAGE_SIZE));
    if (current !== undefined) q.set('before', current);
    return api<DecisionPage>('GET', `/api/decisions?${q}`);
  }, [key, current]);
  const p = page.data;
  return (
    <>
      <ErrorNote error={page.error} />
      {p === undefined ? (
        page.error === undefined && <Loading />
      ) : p.decisions.length === 0 ? (
        <Empty>
          No decisions match{p.before !== undefined ? ' in the records read so far' : ''}.
        </Empty>
      ) : (
        <table aria-label="Decisions">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Verdict</th>
              <th scope="col">Code</th>
              <th scope="col">Caller</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Score</th>
            </tr>
          </thead>
          <tbody>
            {p.decisions.map((d) => (
              <tr>
                <td>
                  <a href={href('decisions', d.decision_id)}>
                    <Time iso={d.ts} />
                  </a>
                </td>
                <td>
                  <Verdict verdict={d.verdict} />
                </td>
                <td>{d.code ?? ''}</td>
                <td>
                  {d.subject} <span class="muted">({d.loa})</span>
                </td>
                <td>{d.action}</td>
                <td>{d.target}</td>
                <td>{d.score === null ? '—' : d.score.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        <button
          type="button"
          disabled={stack.length === 0}
          onClick={() => setBefore({ key, stack: stack.slice(0, -1) })}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={p?.before === undefined}
          onClick={() => p?.before && setBefore({ key, stack: [...stack, p.before] })}
        >
          Older
        </button>
      </div>
    </>
  );
}

function Contributions({ trust }: { trust: NonNullable<Decision['trust']> }) {
  const rows = Object.entries(trust.contributions).sort(
    (a, b) => Math.abs(b[1].contribution) - Math.abs(a[1].contribution),
  );
  const max = Math.max(1e-9, ...rows.map(([, c]) => Math.abs(c.contribution)));
  return (
    <div class="bars" role="list" aria-label="Each feature's contribution to the logit">
      {rows.map(([feature, c]) => (
        <div role="listitem" class="bar-row">
          <span>{feature}</span>
          <span
            class={`bar ${c.contribution >= 0 ? 'pos' : 'neg'}`}
            style={{ width: `${(Math.abs(c.contribution) / max) * 100}%` }}
            title={`value ${c.value} × weight ${c.weight}`}
          />
          <span>{c.contribution.toFixed(3)}</span>
        </div>
      ))}
    </div>
  );
}

function ReplayButton({ id }: { id: string }) {
  const [result, setResult] = useState<Replay | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api<Replay>('POST', `/api/decisions/${encodeURIComponent(id)}/replay`));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <button type="button" class="primary" onClick={run} disabled={busy}>
        Replay
      </button>
      {result && (
        <p data-testid="replay" class={result.matches ? 'good' : 'bad'} role="status">
          {result.matches
            ? `Replay matches: ${result.replayed.verdict}${result.replayed.code ? ` (${result.replayed.code})` : ''}${result.identical ? ', identical in every sealed field' : ''}`
            : `Replay differs: recorded ${result.recorded.verdict} (${result.recorded.code ?? '—'}), replayed ${result.replayed.verdict} (${result.replayed.code ?? '—'})`}
        </p>
      )}
      <ErrorNote error={error} />
    </div>
  );
}

/** The reasoning chain and the trust score's breakdown, from the re-run decision. */
function Explanation({ explained, error }: { explained: Decision | undefined; error: unknown }) {
  if (explained === undefined) {
    return (
      <Card title="Reasoning chain">
        <ErrorNote error={error} />
      </Card>
    );
  }
  return (
    <>
      <Card title="Reasoning chain">
        <ol class="steps">
          {explained.steps.map((s) => (
            <li>
              <strong>{s.step}</strong>: <span class={`step-${s.verdict}`}>{s.verdict}</span> —{' '}
              {s.reason}
            </li>
          ))}
        </ol>
      </Card>
      <Card title="Trust score">
        {explained.trust === null ? (
          <Empty>No trust score: the decision ended before scoring.</Empty>
        ) : (
          <>
            <p data-testid="score">
              Score {explained.trust.score.toFixed(3)} against threshold {explained.threshold}{' '}
              (logit {explained.trust.logit.toFixed(3)})
            </p>
            <Contributions trust={explained.trust} />
          </>
        )}
      </Card>
    </>
  );
}

function DecisionDetail({ id }: { id: string }) {
  const rec = useData(
    () => api<SealedRecord>('GET', `/api/canon/records/${encodeURIComponent(id)}`),
    [id],
  );
  // A record names its policy by hash and keeps no steps or score breakdown: replay re-derives
  // them from what was sealed, so what is shown is what the log proves.
  const replay = useData(
    () => api<Replay>('POST', `/api/decisions/${encodeURIComponent(id)}/replay`),
    [id],
  );
  if (rec.error !== undefined) return <ErrorNote error={rec.error} />;
  const r = rec.data;
  if (r === undefined || (replay.data === undefined && replay.error === undefined)) {
    return <Loading />;
  }
  if (r.kind !== 'decision') return <Empty>Record {id} is not a decision.</Empty>;
  const p = r.payload as DecisionPayload;
  const d = p.decision;
  const explained = replay.data?.replayed ?? ('steps' in d ? d : undefined);
  return (
    <>
      <h1>
        Decision <Short value={r.id} keep={20} />
      </h1>
      <div class="cards">
        <Card title="Verdict">
          <dl>
            <dt>Verdict</dt>
            <dd data-testid="verdict">
              <Verdict verdict={d.verdict} /> {d.code && <code>{d.code}</code>}
            </dd>
            <dt>Reason</dt>
            <dd>{d.reason}</dd>
            <dt>Caller</dt>
            <dd>
              {p.caller.subject} ({p.caller.loa}, {p.caller.signer.type})
            </dd>
            <dt>Action</dt>
            <dd>
              {p.request.action} on {p.request.target}
            </dd>
            <dt>Time</dt>
            <dd>
              <Time iso={r.ts} /> · seq {r.seq}
            </dd>
            <dt>Mode</dt>
            <dd>
              {d.mode}
              {d.would_deny ? ' (would deny in active mode)' : ''}
            </dd>
          </dl>
        </Card>
        <Card title="Replay">
          <p class="muted">Re-runs the decision on its recorded inputs.</p>
          <ReplayButton id={r.id} />
        </Card>
      </div>
      <Explanation explained={explained} error={replay.error} />
      <Card title="MCP rules and invariants">
        {d.rules.length === 0 && d.violations.length === 0 ? (
          <Empty>No MCP rule or invariant applied to this request.</Empty>
        ) : (
          <table aria-label="Rule results">
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Result</th>
                <th scope="col">Description</th>
                <th scope="col">Evidence</th>
              </tr>
            </thead>
            <tbody>
              {d.rules.map((rule) => (
                <tr>
                  <td>{rule.rule}</td>
                  <td class={rule.passed ? 'good' : 'bad'}>
                    {rule.exempt ? 'exempt' : rule.passed ? 'passed' : 'failed'}
                  </td>
                  <td>{rule.description}</td>
                  <td>{rule.evidence.join('; ')}</td>
                </tr>
              ))}
              {d.violations.map((v) => (
                <tr>
                  <td>{v.invariant}</td>
                  <td class="bad">violated</td>
                  <td>{v.description}</td>
                  <td>{v.evidence.join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <p>
        <a href={href('log', r.id)}>This record in the log explorer</a>
      </p>
    </>
  );
}

export function Decisions() {
  const { parts, query } = route.value;
  const id = parts[1];
  if (id !== undefined) return <DecisionDetail id={id} />;
  return (
    <>
      <h1>Decisions</h1>
      <FilterForm query={query} />
      <DecisionList query={query} />
    </>
  );
}
