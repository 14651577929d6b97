/**
 * Overview, polled every 5 s: decisions per minute (from the log), the top denied actions and
 * callers, the log and its latest checkpoint, the circuit breaker, and the MCP gateway's calls
 * per tool with the latency it added.
 */
import { api } from '../api.ts';
import { cosignerNames } from '../note.ts';
import { DecisionsChart } from '../chart.tsx';
import { href } from '../router.ts';
import type { Checkpoint, DecisionStats, GatewayStats, TrustStatus } from '../types.ts';
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

const millis = (v: number | null): string => (v === null ? '—' : `${v.toFixed(2)} ms`);

function GatewayCalls({ stats }: { stats: GatewayStats }) {
  if (stats.tools.length === 0) return <Empty>No gateway call in this window.</Empty>;
  return (
    <>
      <table aria-label="Gateway calls per tool">
        <thead>
          <tr>
            <th scope="col">Upstream</th>
            <th scope="col">Tool</th>
            <th scope="col">Calls</th>
            <th scope="col">Median added latency</th>
            <th scope="col">Median upstream latency</th>
          </tr>
        </thead>
        <tbody>
          {stats.tools.map((t) => (
            <tr>
              <td>{t.upstream}</td>
              <td>{t.tool}</td>
              <td>{t.calls}</td>
              <td data-testid="added-latency">{millis(t.median_added_ms)}</td>
              <td>{millis(t.median_upstream_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!stats.complete && (
        <p class="muted">
          The window held more calls than one request reads: the oldest {stats.scanned} are counted.
        </p>
      )}
    </>
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
  const gateway = useData(
    () => api<GatewayStats>('GET', '/api/gateway/stats?minutes=60'),
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
      <ErrorNote error={status.error ?? checkpoint.error ?? stats.error ?? gateway.error} />
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
      <Card title="Gateway calls (last hour)">
        {gateway.data === undefined ? <Loading /> : <GatewayCalls stats={gateway.data} />}
      </Card>
    </>
  );
}
