/**
 * Approvals: the MCP gateway's gated tool calls waiting for a human Mentor, with tool, caller,
 * the call's arguments and waiting time. A verdict is the approver's typed human signature over
 * {approval id, tool, arguments hash, verdict}: signed here with a key loaded for that one
 * action (WebCrypto Ed25519, never stored), or pasted from `sigil approve --sign-only`.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { signApproval } from '../attest.ts';
import { href } from '../router.ts';
import type { Approval } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Time, useData } from '../ui.tsx';

const POLL_MS = 3000;

function waited(since: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function Decide({ approval, onDone }: { approval: Approval; onDone: () => void }) {
  const [verdict, setVerdict] = useState<'approved' | 'rejected' | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (verdict === undefined) return;
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const key = String(data.get('private_key') ?? '');
    const pasted = String(data.get('signature') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const signature = key.trim() !== '' ? await signApproval(approval, verdict, key) : pasted;
      if (signature === '') throw new Error('load a private key or paste a signature');
      await api('POST', `/api/approvals/${encodeURIComponent(approval.id)}`, {
        verdict,
        signature,
      });
      form.reset(); // the key leaves the page with the form's contents
      setVerdict(undefined);
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (verdict !== undefined) {
    const word = verdict === 'approved' ? 'approve' : 'reject';
    const cli = `sigil approve ${approval.id}${verdict === 'rejected' ? ' --reject' : ''} --key-id <key> --sign-only`;
    return (
      <form class="stack" onSubmit={submit} aria-label={`Sign: ${word}`}>
        <label for={`key-${approval.id}`}>
          Private key for this signature only (PKCS#8 PEM or base64 seed; never stored)
        </label>
        <textarea
          id={`key-${approval.id}`}
          name="private_key"
          rows={3}
          autocomplete="off"
          spellcheck={false}
        />
        <label for={`sig-${approval.id}`}>…or a signature from: {cli}</label>
        <input id={`sig-${approval.id}`} name="signature" autocomplete="off" spellcheck={false} />
        <div>
          <button type="submit" class="primary" disabled={busy}>
            {verdict === 'approved' ? 'Sign and approve' : 'Sign and reject'}
          </button>{' '}
          <button type="button" onClick={() => setVerdict(undefined)}>
            Cancel
          </button>
        </div>
        <ErrorNote error={error} />
      </form>
    );
  }
  return (
    <>
      <button type="button" onClick={() => setVerdict('approved')}>
        Approve
      </button>{' '}
      <button type="button" onClick={() => setVerdict('rejected')}>
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
                <th scope="col">Arguments</th>
                <th scope="col">Waiting</th>
                <th scope="col">Decide</th>
              </tr>
            </thead>
            <tbody>
              {pending.map((a) => (
                <tr>
                  <td>{a.tool}</td>
                  <td>{a.requested_by}</td>
                  <td>
                    <pre data-testid="approval-arguments">
                      {a.arguments === null ? '(not sealed)' : JSON.stringify(a.arguments, null, 2)}
                    </pre>
                    <span class="muted">sha256 {a.arguments_hash}</span>
                  </td>
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
                <th scope="col">Signed by</th>
                <th scope="col">Decision</th>
              </tr>
            </thead>
            <tbody>
              {decided.map((a) => (
                <tr>
                  <td>{a.tool}</td>
                  <td>{a.requested_by}</td>
                  <td>{a.status}</td>
                  <td>
                    <Time iso={a.created_at} />
                  </td>
                  <td>
                    {a.decided_by ?? '—'}
                    {a.witness_id !== undefined && ` (key ${a.witness_id})`}
                  </td>
                  <td>
                    <a href={href('decisions', a.verdict_decision_id ?? a.decision_id)}>decision</a>
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
