/**
 * Tokens (Root): every API token with its subject, level, signer and lifetime; mint one (the
 * token itself is shown once, here, and kept nowhere); revoke one after a confirmation.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, ErrorNote, ListTable, RevokeButton, Short, Time, useData } from '../ui.tsx';

interface TokenInfo {
  id: string;
  subject: string;
  loa: string;
  signer: { type: 'human' } | { type: 'ai'; delegation_id: string };
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  scopes?: string[];
  issued_by: string;
}

const LEVELS = ['guest', 'observer', 'operator', 'mentor', 'root'];
const HOUR_MS = 3_600_000;

function Create({ onCreated }: { onCreated: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [minted, setMinted] = useState<{ token: string; info: TokenInfo } | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const hours = String(form.get('hours') ?? '').trim();
    const scopes = String(form.get('scopes') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const delegation = String(form.get('delegation') ?? '').trim();
    setError(undefined);
    setMinted(undefined);
    try {
      if (hours !== '' && !(Number(hours) > 0)) {
        throw new Error('The lifetime must be a positive number of hours.');
      }
      const created = await api<{ token: string; info: TokenInfo }>('POST', '/api/tokens', {
        subject: String(form.get('subject') ?? '').trim(),
        loa: String(form.get('loa')),
        ...(delegation !== '' ? { signer: { type: 'ai', delegation_id: delegation } } : {}),
        ...(hours !== '' ? { ttl_ms: Math.round(Number(hours) * HOUR_MS) } : {}),
        ...(scopes.length > 0 ? { scopes } : {}),
      });
      setMinted(created);
      onCreated();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Create a token">
      <form aria-label="Create a token" onSubmit={submit}>
        <label>
          Subject DID <input name="subject" required placeholder="did:example:alice" />
        </label>
        <label>
          Level{' '}
          <select name="loa">
            {LEVELS.map((l) => (
              <option value={l} selected={l === 'observer'}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Lifetime in hours (empty: no expiry) <input name="hours" inputMode="decimal" />
        </label>
        <label>
          Scopes, comma-separated (optional){' '}
          <input name="scopes" placeholder="canon.*,trust.check" />
        </label>
        <label>
          Delegation id, for an AI agent (optional) <input name="delegation" />
        </label>
        <button type="submit" class="primary">
          Create
        </button>
      </form>
      <ErrorNote error={error} />
      {minted !== undefined && (
        <div class="minted" role="status" aria-label="New token">
          <p>
            Token <Short value={minted.info.id} /> for {minted.info.subject} ({minted.info.loa}). It
            is shown <strong>once</strong>: copy it now; only its hash is kept.
          </p>
          <pre data-testid="new-token">{minted.token}</pre>
        </div>
      )}
    </Card>
  );
}

export function Tokens() {
  const list = useData(() => api<{ tokens: TokenInfo[] }>('GET', '/api/tokens'), []);
  const tokens = list.data?.tokens;
  return (
    <>
      <h1>Tokens</h1>
      <ErrorNote error={list.error} />
      <Card title="API tokens">
        <ListTable
          label="API tokens"
          items={tokens}
          error={list.error}
          empty="No API token yet."
          columns={['Id', 'Subject', 'Level', 'Signer', 'Created', 'Expires', 'Revoke']}
          row={(t) => (
            <tr>
              <td>
                <Short value={t.id} />
              </td>
              <td>{t.subject}</td>
              <td>{t.loa}</td>
              <td>
                {t.signer.type === 'ai' ? `ai (${t.signer.delegation_id.slice(0, 8)}…)` : 'human'}
              </td>
              <td>
                <Time iso={t.created_at} />
              </td>
              <td>{t.expires_at === null ? 'never' : <Time iso={t.expires_at} />}</td>
              <td>
                <RevokeButton
                  revoked={t.revoked_at !== null}
                  revoke={() => api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`)}
                  onDone={list.reload}
                />
              </td>
            </tr>
          )}
        />
      </Card>
      <Create onCreated={list.reload} />
    </>
  );
}
