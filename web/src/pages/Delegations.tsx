/**
 * Delegations (Operator+): the signed authority links the caller granted or received (every one
 * for Root); delegate actions to an agent; revoke one after a confirmation, which stops every
 * token built on it.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { href } from '../router.ts';
import { Card, ErrorNote, ListTable, RevokeButton, Short, Time, useData } from '../ui.tsx';

interface DelegationInfo {
  delegation_id: string;
  parent: string | null;
  principal: string;
  grantee: string;
  permissions: string[];
  chain: Array<{ grantor: string; grantee: string }>;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const HOUR_MS = 3_600_000;

function Delegate({ onCreated }: { onCreated: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [made, setMade] = useState<DelegationInfo | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const hours = String(form.get('hours') ?? '').trim();
    const actions = String(form.get('actions') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    setError(undefined);
    setMade(undefined);
    try {
      if (hours !== '' && !(Number(hours) > 0)) {
        throw new Error('The lifetime must be a positive number of hours.');
      }
      setMade(
        await api<DelegationInfo>('POST', '/api/delegations', {
          to: String(form.get('to') ?? '').trim(),
          actions,
          ...(hours !== '' ? { ttl_ms: Math.round(Number(hours) * HOUR_MS) } : {}),
        }),
      );
      onCreated();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Delegate to an agent">
      <form aria-label="Delegate to an agent" onSubmit={submit}>
        <label>
          Agent DID <input name="to" required placeholder="did:example:agent" />
        </label>
        <label>
          Actions, comma-separated <input name="actions" required placeholder="memory.read" />
        </label>
        <label>
          Lifetime in hours (empty: as long as the chain) <input name="hours" inputMode="decimal" />
        </label>
        <button type="submit" class="primary">
          Delegate
        </button>
      </form>
      <ErrorNote error={error} />
      {made !== undefined && (
        <p role="status" aria-label="New delegation">
          Delegated {made.permissions.join(', ')} to {made.grantee}: delegation{' '}
          <code data-testid="new-delegation">{made.delegation_id}</code>. Root mints the agent its
          token with this id on the <a href={href('tokens')}>Tokens</a> page.
        </p>
      )}
    </Card>
  );
}

export function Delegations() {
  const list = useData(() => api<{ delegations: DelegationInfo[] }>('GET', '/api/delegations'), []);
  const delegations = list.data?.delegations;
  return (
    <>
      <h1>Delegations</h1>
      <ErrorNote error={list.error} />
      <Card title="Delegations you granted or received">
        <ListTable
          label="Delegations"
          items={delegations}
          error={list.error}
          empty="No delegation yet."
          columns={['Id', 'Chain', 'Actions', 'Created', 'Expires', 'Revoke']}
          row={(d) => (
            <tr>
              <td>
                <Short value={d.delegation_id} />
              </td>
              <td>{[d.principal, ...d.chain.map((l) => l.grantee)].join(' → ')}</td>
              <td>{d.permissions.join(', ')}</td>
              <td>
                <Time iso={d.created_at} />
              </td>
              <td>{d.expires_at === null ? 'never' : <Time iso={d.expires_at} />}</td>
              <td>
                <RevokeButton
                  revoked={d.revoked_at !== null}
                  revoke={() => api('DELETE', `/api/delegations/${d.delegation_id}`)}
                  onDone={list.reload}
                />
              </td>
            </tr>
          )}
        />
      </Card>
      <Delegate onCreated={list.reload} />
    </>
  );
}
