/**
 * Overview, polled every 5 s: decisions per minute (from the log), the top denied actions and
 * callers, the log and its latest checkpoint, and the circuit breaker.
 */
import { api } from '../api.ts';
import { cosignerNames } from '../note.ts';
import { DecisionsChart } from '../chart.tsx';
import { href } from '../router.ts';
import type { Checkpoint, DecisionStats, TrustStatus } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Short, Time, useData } from '../ui.tsx';

const POLL_MS = 5000;

function TopList({
  rows,
  filter,
  label,
}: {
  rows: Array<{ key: string; count: number }>;
  filter: 'action' | 'subject';
  label: string;
}) {
  if (rows.length === 0) return <Empty>No denials in this window.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col">Denied</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr>
            <td>
              <a href={`${href('decisions')}?verdict=deny&${filter}=${encodeURIComponent(r.key)}`}>
                {r.key}
              </a>
            </td>
            <td>{r.count}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Overview() {
  const status = useData(() => api<TrustStatus>('GET', '/api/trust/status'), [], POLL_MS);
  const checkpoint = useData(() => api<Checkpoint>('GET', '/api/log/checkpoint'), [], POLL_MS);
  const stats = useData(
    () => api<DecisionStats>('GET', '/api/decisions/stats?minutes=60'),
    [],
    POLL_MS,
  );
  const s = status.data;
  const cp = checkpoint.data;
  const st = stats.data;
  const cosigners = cp === undefined ? [] : cosignerNames(cp.note, cp.verifier_key.split('+')[0]!);
  const rateLimited = st?.per_minute.reduce((n, m) => n + (m.deny.rate_limited ?? 0), 0);
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={status.error ?? checkpoint.error ?? stats.error} />
      <Card title="Decisions per minute (last hour)">
        {st === undefined ? <Loading /> : <DecisionsChart stats={st} />}
      </Card>
      <div class="cards">
        <Card title="Top denied actions">
          {st === undefined ? (
            <Loading />
          ) : (
            <TopList
              label="Action"
              filter="action"
              rows={st.top_denied_actions.map((r) => ({ key: r.action, count: r.count }))}
            />
          )}
        </Card>
        <Card title="Top denied callers">
          {st === undefined ? (
            <Loading />
          ) : (
            <TopList
              label="Caller"
              filter="subject"
              rows={st.top_denied_callers.map((r) => ({ key: r.subject, count: r.count }))}
            />
          )}
        </Card>
      </div>
      <div class="cards">
        <Card title="Decisions since start">
          {s === undefined ? (
            <Loading />
          ) : (
            <dl>
              <dt>Allowed</dt>
              <dd data-testid="allowed">{s.decisions.allow}</dd>
              <dt>Denied</dt>
              <dd data-testid="denied">{s.decisions.deny}</dd>
              <dt>Mode</dt>
              <dd>{s.mode}</dd>
              <dt>Threshold</dt>
              <dd>{s.threshold}</dd>
              <dt>Trust model</dt>
              <dd>{s.model}</dd>
              <dt>Rate-limited (last hour)</dt>
              <dd data-testid="rate-limited">{rateLimited ?? '…'}</dd>
            </dl>
          )}
        </Card>
        <Card title="Log">
          {cp === undefined ? (
            <Loading />
          ) : (
            <dl>
              <dt>Records</dt>
              <dd data-testid="log-size">{s?.log_size ?? cp.size}</dd>
              <dt>Latest checkpoint</dt>
              <dd data-testid="checkpoint-size">size {cp.size}</dd>
              <dt>Signed</dt>
              <dd>
                <Time iso={cp.timestamp} />
              </dd>
              <dt>Root hash</dt>
              <dd>
                <Short value={cp.root_hash} />
              </dd>
              <dt>Witness cosignatures</dt>
              <dd data-testid="cosignatures">
                {cosigners.length === 0 ? 'none' : cosigners.join(', ')}
              </dd>
            </dl>
          )}
        </Card>
        <Card title="Circuit breaker">
          {s === undefined ? (
            <Loading />
          ) : (
            <p data-testid="breaker" class={s.breaker.open ? 'bad' : 'good'}>
              {s.breaker.open ? 'Open: AI actors are stopped' : 'Closed'} ·{' '}
              {s.breaker.critical_in_window} of {s.breaker.threshold} critical findings in the
              window
            </p>
          )}
        </Card>
      </div>
    </>
  );
}
