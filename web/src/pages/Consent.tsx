/**
 * Consent (Operator+): the bailments the caller gave (as bailor) or was given (as bailee), every
 * one for Root; grant consent to a bailee for a scope and purpose; revoke one after a
 * confirmation, which takes effect on the next decision.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, ErrorNote, ListTable, RevokeButton, Short, Time, useData } from '../ui.tsx';

interface ConsentRecord {
  id: string;
  bailor: string;
  bailee: string;
  scope: string;
  purpose: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

interface ConsentPair {
  id: string;
  bailment: ConsentRecord;
  grant: ConsentRecord;
}

// The server's purposes (src/gatekeeper/consent.ts CONSENT_PURPOSES); it refuses any other.
const PURPOSES = ['retrieval', 'validation', 'writeback'];

function Grant({ onGranted }: { onGranted: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [granted, setGranted] = useState<ConsentPair | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const until = String(form.get('until') ?? '').trim();
    setError(undefined);
    setGranted(undefined);
    try {
      const expires = until === '' ? undefined : new Date(until);
      if (expires !== undefined && Number.isNaN(expires.getTime())) {
        throw new Error('The expiry is not a date.');
      }
      setGranted(
        await api<ConsentPair>('POST', '/api/consent', {
          bailee: String(form.get('bailee') ?? '').trim(),
          scope: String(form.get('scope') ?? '').trim(),
          purpose: String(form.get('purpose')),
          ...(expires !== undefined ? { expires_at: expires.toISOString() } : {}),
        }),
      );
      onGranted();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Grant consent">
      <form aria-label="Grant consent" onSubmit={submit}>
        <label>
          Bailee DID <input name="bailee" required placeholder="did:example:agent" />
        </label>
        <label>
          Scope <input name="scope" required placeholder="memory.read, memory.write" />
        </label>
        <label>
          Purpose{' '}
          <select name="purpose">
            {PURPOSES.map((p) => (
              <option value={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Expires (optional) <input name="until" type="datetime-local" />
        </label>
        <button type="submit" class="primary">
          Grant
        </button>
      </form>
      <ErrorNote error={error} />
      {granted !== undefined && (
        <p role="status" aria-label="New consent">
          Consent <code data-testid="new-consent">{granted.id}</code> granted to{' '}
          {granted.bailment.bailee} for {granted.bailment.purpose}.
        </p>
      )}
    </Card>
  );
}

export function Consent() {
  const list = useData(() => api<{ consents: ConsentPair[] }>('GET', '/api/consent'), []);
  const consents = list.data?.consents;
  return (
    <>
      <h1>Consent</h1>
      <ErrorNote error={list.error} />
      <Card title="Consent you gave or were given">
        <ListTable
          label="Consents"
          items={consents}
          error={list.error}
          empty="No consent yet."
          columns={['Id', 'Bailor', 'Bailee', 'Scope', 'Purpose', 'Granted', 'Expires', 'Revoke']}
          row={({ id, grant }) => (
            <tr>
              <td>
                <Short value={id} />
              </td>
              <td>{grant.bailor}</td>
              <td>{grant.bailee}</td>
              <td>{grant.scope}</td>
              <td>{grant.purpose}</td>
              <td>
                <Time iso={grant.created_at} />
              </td>
              <td>{grant.expires_at === null ? 'never' : <Time iso={grant.expires_at} />}</td>
              <td>
                <RevokeButton
                  revoked={grant.revoked_at !== null}
                  revoke={() => api('DELETE', `/api/consent/${encodeURIComponent(id)}`)}
                  onDone={list.reload}
                />
              </td>
            </tr>
          )}
        />
      </Card>
      <Grant onGranted={list.reload} />
    </>
  );
}
