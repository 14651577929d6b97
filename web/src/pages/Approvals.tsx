/**
 * Approvals: the MCP gateway's gated tool calls waiting for a human Mentor, with tool, caller,
 * summary and waiting time; approve or reject, each after a confirmation.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { href } from '../router.ts';
import type { Approval } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Time, useData } from '../ui.tsx';

const POLL_MS = 3000;

function waited(since: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function Decide({ approval, onDone }: { approval: Approval; onDone: () => void }) {
  const [asking, setAsking] = useState<boolean | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const decide = async (approved: boolean) => {
    setError(undefined);
    try {
      await api('POST', `/api/approvals/${encodeURIComponent(approval.id)}`, { approved });
      setAsking(undefined);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  if (asking !== undefined) {
    return (
      <>
        <button type="button" class="primary" onClick={() => decide(asking)}>
          {asking ? 'Confirm approve' : 'Confirm reject'}
        </button>{' '}
        <button type="button" onClick={() => setAsking(undefined)}>
          Cancel
        </button>
        <ErrorNote error={error} />
      </>
    );
  }
  return (
    <>
      <button type="button" onClick={() => setAsking(true)}>
        Approve
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Reject
      </button>
    </>
  );
}

export function Approvals() {
  const list = useData(() => api<{ approvals: Approval[] }>('GET', '/api/approvals'), [], POLL_MS);
  const approvals = list.data?.approvals;
  const pending = approvals?.filter((a) => a.status === 'pending') ?? [];
  const decided = approvals?.filter((a) => a.status !== 'pending') ?? [];
  return (
    <>
      <h1>Approvals</h1>
      <ErrorNote error={list.error} />
      <Card title="Waiting">
        {approvals === undefined ? (
          list.error === undefined && <Loading />
        ) : pending.length === 0 ? (
          <Empty>No tool call is waiting for approval.</Empty>
        ) : (
          <table aria-label="Waiting approvals">
            <thead>
              <tr>
                <th scope="col">Tool call</th>
                <th scope="col">Caller</th>
                <th scope="col">Summary</th>
                <th scope="col">Waiting</th>
                <th scope="col">Decide</th>
              </tr>
            </thead>
            <tbody>
              {pending.map((a) => (
                <tr>
                  <td>
                    {a.action} on {a.target}
                  </td>
                  <td>{a.requested_by}</td>
                  <td>{a.summary}</td>
                  <td>{waited(a.created_at)}</td>
                  <td>
                    <Decide approval={a} onDone={list.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {decided.length > 0 && (
        <Card title="Decided">
          <table aria-label="Decided approvals">
            <thead>
              <tr>
                <th scope="col">Tool call</th>
                <th scope="col">Caller</th>
                <th scope="col">Status</th>
                <th scope="col">Requested</th>
                <th scope="col">Decision</th>
              </tr>
            </thead>
            <tbody>
              {decided.map((a) => (
                <tr>
                  <td>
                    {a.action} on {a.target}
                  </td>
                  <td>{a.requested_by}</td>
                  <td>{a.status}</td>
                  <td>
                    <Time iso={a.created_at} />
                  </td>
                  <td>
                    <a href={href('decisions', a.decision_id)}>decision</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </>
  );
}
