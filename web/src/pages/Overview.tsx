/** Overview: live (polled) decision counts, the log and its latest checkpoint, the breaker. */
import { api } from '../api.ts';
import type { Checkpoint, TrustStatus } from '../types.ts';
import { Card, ErrorNote, Loading, Short, Time, useData } from '../ui.tsx';

const POLL_MS = 5000;

export function Overview() {
  const status = useData(() => api<TrustStatus>('GET', '/api/trust/status'), [], POLL_MS);
  const checkpoint = useData(() => api<Checkpoint>('GET', '/api/log/checkpoint'), [], POLL_MS);
  const s = status.data;
  const cp = checkpoint.data;
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={status.error ?? checkpoint.error} />
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
