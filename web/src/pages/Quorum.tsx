/**
 * Quorum: system-change proposals with their k-of-n progress and who attested; attest (signed
 * in this browser from a key loaded for that one action, or a pasted signature from
 * `sigil sign`); commit; and enrol a witness key (Root).
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { signAttestation } from '../attest.ts';
import { href, route } from '../router.ts';
import type { Proposal, QuorumStatus } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Short, Time, useData } from '../ui.tsx';

function Progress({ status }: { status: QuorumStatus }) {
  return (
    <p data-testid="quorum-progress" class={status.satisfied ? 'good' : ''}>
      Root {status.root} of {status.required.root} · Mentors {status.mentors} of{' '}
      {status.required.mentors}
      {status.satisfied ? ' · quorum reached' : ''}
    </p>
  );
}

function ProposalList() {
  const list = useData(
    () => api<{ proposals: Proposal[] }>('GET', '/api/canon/system/proposals'),
    [],
  );
  if (list.error !== undefined) return <ErrorNote error={list.error} />;
  if (list.data === undefined) return <Loading />;
  const proposals = [...list.data.proposals].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  if (proposals.length === 0)
    return <Empty>No proposals. Root opens one with a system change.</Empty>;
  return (
    <table aria-label="Proposals">
      <thead>
        <tr>
          <th scope="col">Proposal</th>
          <th scope="col">Status</th>
          <th scope="col">Attestations</th>
          <th scope="col">Proposed</th>
          <th scope="col">Expires</th>
        </tr>
      </thead>
      <tbody>
        {proposals.map((p) => (
          <tr>
            <td>
              <a href={href('quorum', p.id)}>
                <Short value={p.id} keep={16} />
              </a>
            </td>
            <td>{p.status}</td>
            <td>
              {p.attestations.length} of {p.required.root + p.required.mentors} needed
            </td>
            <td>
              <Time iso={p.created_at} />
            </td>
            <td>
              <Time iso={p.expires_at} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function AttestForm({ proposal, onDone }: { proposal: Proposal; onDone: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const witnessId = String(data.get('witness_id') ?? '').trim();
    const key = String(data.get('private_key') ?? '');
    const pasted = String(data.get('signature') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const signature =
        key.trim() !== '' ? await signAttestation(proposal.id, proposal.change_hash, key) : pasted;
      if (signature === '') throw new Error('load a private key or paste a signature');
      await api('POST', '/api/canon/system/attest', {
        proposal_id: proposal.id,
        witness_id: witnessId,
        signature,
      });
      form.reset(); // the key leaves the page with the form's contents
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack" onSubmit={submit} aria-label="Attest">
      <label for="witness_id">Witness id</label>
      <input id="witness_id" name="witness_id" required autocomplete="off" />
      <label for="private_key">
        Private key for this signature only (PKCS#8 PEM or base64 seed; never stored)
      </label>
      <textarea
        id="private_key"
        name="private_key"
        rows={3}
        autocomplete="off"
        spellcheck={false}
      />
      <label for="signature">…or a signature made offline (base64url)</label>
      <input id="signature" name="signature" autocomplete="off" spellcheck={false} />
      <button type="submit" class="primary" disabled={busy}>
        Attest
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

function ProposalDetail({ id }: { id: string }) {
  const p = useData(
    () =>
      api<{ proposal: Proposal; status: QuorumStatus }>(
        'GET',
        `/api/canon/system/proposals/${encodeURIComponent(id)}`,
      ),
    [id],
  );
  const [commitError, setCommitError] = useState<unknown>(undefined);
  const [confirming, setConfirming] = useState(false);
  if (p.error !== undefined) return <ErrorNote error={p.error} />;
  if (p.data === undefined) return <Loading />;
  const { proposal, status } = p.data;
  const commit = async () => {
    setCommitError(undefined);
    try {
      await api('POST', '/api/canon/system/commit', { proposal_id: proposal.id });
      setConfirming(false);
      p.reload();
    } catch (err) {
      setCommitError(err);
    }
  };
  return (
    <>
      <h1>
        Proposal <Short value={proposal.id} keep={16} />
      </h1>
      <div class="cards">
        <Card title="Quorum">
          <p data-testid="proposal-status">Status: {proposal.status}</p>
          <Progress status={status} />
          {status.counted.length === 0 ? (
            <Empty>No attestation yet.</Empty>
          ) : (
            <ul aria-label="Attested by">
              {status.counted.map((w) => (
                <li>
                  {w.witness_id} ({w.authority}) <Time iso={w.timestamp} />
                </li>
              ))}
            </ul>
          )}
          {status.rejected.map((r) => (
            <p class="bad">
              {r.witness_id}: not counted ({r.reason})
            </p>
          ))}
        </Card>
        <Card title="Change">
          <pre tabIndex={0}>{JSON.stringify(proposal.change, null, 2)}</pre>
          <p class="muted">
            change hash <Short value={proposal.change_hash} /> · proposed by {proposal.proposer}
          </p>
        </Card>
      </div>
      {proposal.status === 'pending' && (
        <div class="cards">
          <Card title="Attest">
            <AttestForm proposal={proposal} onDone={p.reload} />
          </Card>
          <Card title="Commit">
            <p class="muted">Applies the change once Root and the Mentors have attested.</p>
            {confirming ? (
              <>
                <button type="button" class="primary" onClick={commit}>
                  Confirm commit
                </button>{' '}
                <button type="button" onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </>
            ) : (
              <button type="button" onClick={() => setConfirming(true)}>
                Commit
              </button>
            )}
            <ErrorNote error={commitError} />
          </Card>
        </div>
      )}
    </>
  );
}

function EnrolWitness() {
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = Object.fromEntries(new FormData(form)) as Record<string, string>;
    setError(undefined);
    setDone(undefined);
    try {
      await api('POST', '/api/canon/system/witnesses', {
        witness_id: data.witness_id?.trim(),
        did: data.did?.trim(),
        role: data.role,
        public_key: data.public_key?.trim(),
      });
      setDone(`Witness ${data.witness_id} enrolled.`);
      form.reset();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Enrol a witness key">
      <form class="filters" onSubmit={submit} aria-label="Enrol a witness">
        <label>
          Witness id
          <input name="witness_id" required />
        </label>
        <label>
          DID
          <input name="did" required placeholder="did:sigil:…" />
        </label>
        <label>
          Role
          <select name="role">
            <option value="mentor">mentor</option>
            <option value="root">root</option>
          </select>
        </label>
        <label>
          Public key (base64url, 32 bytes)
          <input name="public_key" required size={46} />
        </label>
        <button type="submit">Enrol</button>
      </form>
      {done && (
        <p class="good" role="status">
          {done}
        </p>
      )}
      <ErrorNote error={error} />
    </Card>
  );
}

export function Quorum() {
  const id = route.value.parts[1];
  if (id !== undefined) return <ProposalDetail id={id} />;
  return (
    <>
      <h1>Quorum</h1>
      <Card title="Proposals">
        <ProposalList />
      </Card>
      <EnrolWitness />
    </>
  );
}
