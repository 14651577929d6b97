/**
 * Quorum: system-change proposals with their k-of-n progress and who attested; vote as the
 * signed-in witness (signed in this browser from a key loaded for that one action, or
 * signatures made offline); commit; and enrol your own witness key (a Mentor, or Root).
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { signAttestation, signEnrolment } from '../attest.ts';
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
    const key = String(data.get('private_key') ?? '');
    const pasted = {
      signature: String(data.get('signature') ?? '').trim(),
      provenance_signature: String(data.get('provenance_signature') ?? '').trim(),
    };
    setBusy(true);
    setError(undefined);
    try {
      // The witness is whoever is signed in: its vote names its own DID.
      const who = await api<{ caller: { subject: string } }>('GET', '/api/whoami');
      const signed =
        key.trim() !== '' ? await signAttestation(proposal, who.caller.subject, key) : pasted;
      if (signed.signature === '' || signed.provenance_signature === '')
        throw new Error('load a private key or paste both signatures');
      await api('POST', '/api/canon/system/attest', { proposal_id: proposal.id, ...signed });
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
      <p class="muted">You vote as the witness you are signed in as.</p>
      <label for="private_key">
        Your witness private key, for this vote only (PKCS#8 PEM or base64 seed; never stored)
      </label>
      <textarea
        id="private_key"
        name="private_key"
        rows={3}
        autocomplete="off"
        spellcheck={false}
      />
      <label for="signature">…or a vote signature made offline (base64url)</label>
      <input id="signature" name="signature" autocomplete="off" spellcheck={false} />
      <label for="provenance_signature">…and its provenance signature (base64url)</label>
      <input
        id="provenance_signature"
        name="provenance_signature"
        autocomplete="off"
        spellcheck={false}
      />
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
    const publicKey = data.public_key?.trim() ?? '';
    setError(undefined);
    setDone(undefined);
    try {
      // A single-use challenge for the signed-in caller, answered with a proof of possession.
      const challenge = await api<{ id: string; nonce: string; subject: string; role: string }>(
        'POST',
        '/api/canon/system/witnesses/challenge',
      );
      const proof = await signEnrolment(challenge, publicKey, data.private_key ?? '');
      await api('POST', '/api/canon/system/witnesses', {
        challenge_id: challenge.id,
        public_key: publicKey,
        proof,
      });
      setDone(`Your ${challenge.role} witness key is enrolled as ${challenge.subject}.`);
      form.reset(); // the key leaves the page with the form's contents
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Enrol your witness key">
      <form class="filters" onSubmit={submit} aria-label="Enrol a witness">
        <label>
          Public key (base64url, 32 bytes)
          <input name="public_key" required size={46} autocomplete="off" />
        </label>
        <label>
          Private key, to prove you hold it (never stored)
          <textarea name="private_key" required rows={2} autocomplete="off" spellcheck={false} />
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
