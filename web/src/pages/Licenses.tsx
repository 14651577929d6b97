/**
 * Licenses: the licenses this runtime minted, each revocable after a confirmation (Root); mint
 * one sealed by its Root key (Root), shown and offered as a file; and check a license file
 * against this runtime (anyone) — its level and owner, or why it fails. The file is read in the
 * browser and sent as it is: nothing is kept.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, ErrorNote, ListTable, RevokeButton, Short, Time, useData } from '../ui.tsx';

interface License {
  owner: { id: string; name: string };
  loa: string;
  issuedAt: string;
  expiresAt: string | null;
}

interface LicenseInfo {
  id: string;
  owner: string;
  loa: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

interface LicenseCheck {
  ok: boolean;
  loa: string;
  owner?: { id: string; name: string };
  expires_at?: string | null;
  reason?: string;
}

// A second Root license is refused by the single-root policy, so Root is not offered.
const LEVELS = ['guest', 'observer', 'operator', 'mentor'];

/** The minted license as a file to save: a blob URL, released when the license changes. */
function useFileUrl(text: string | undefined): string | undefined {
  const [url, setUrl] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (text === undefined) return setUrl(undefined);
    const made = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [text]);
  return url;
}

function Minted({ list }: { list: ReturnType<typeof useMinted> }) {
  return (
    <Card title="Minted licenses">
      <ErrorNote error={list.error} />
      <ListTable
        label="Minted licenses"
        items={list.data?.licenses}
        error={list.error}
        empty="No license minted yet."
        columns={['Id', 'Owner', 'Level', 'Expires', 'Revoked', 'Revoke']}
        row={(l) => (
          <tr>
            <td>
              <Short value={l.id} />
            </td>
            <td>{l.owner}</td>
            <td>{l.loa}</td>
            <td>{l.expires_at === null ? 'never' : <Time iso={l.expires_at} />}</td>
            <td>
              {l.revoked_at === null ? (
                'no'
              ) : (
                <>
                  <Time iso={l.revoked_at} /> by {l.revoked_by}
                </>
              )}
            </td>
            <td>
              {/* the single Root license is never revoked: the server refuses it */}
              {l.loa === 'root' ? (
                <span class="muted">Root</span>
              ) : (
                <RevokeButton
                  revoked={l.revoked_at !== null}
                  revoke={() => api('DELETE', `/api/licenses/${encodeURIComponent(l.id)}`)}
                  onDone={list.reload}
                />
              )}
            </td>
          </tr>
        )}
      />
    </Card>
  );
}

function useMinted() {
  return useData(() => api<{ licenses: LicenseInfo[] }>('GET', '/api/licenses'), []);
}

function Mint({ onMinted }: { onMinted: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [license, setLicense] = useState<License | undefined>(undefined);
  const text = license === undefined ? undefined : `${JSON.stringify(license, null, 2)}\n`;
  const url = useFileUrl(text);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const name = String(form.get('name') ?? '').trim();
    const until = String(form.get('until') ?? '').trim();
    setError(undefined);
    setLicense(undefined);
    try {
      const expires = until === '' ? null : new Date(until);
      if (expires !== null && Number.isNaN(expires.getTime())) {
        throw new Error('The expiry is not a date.');
      }
      setLicense(
        await api<License>('POST', '/api/license/create', {
          subject: String(form.get('subject') ?? '').trim(),
          loa: String(form.get('loa')),
          expires_at: expires === null ? null : expires.toISOString(),
          ...(name !== '' ? { name } : {}),
        }),
      );
      onMinted();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Mint a license">
      <form aria-label="Mint a license" onSubmit={submit}>
        <label>
          Owner DID <input name="subject" required placeholder="did:example:alice" />
        </label>
        <label>
          Owner name (optional) <input name="name" />
        </label>
        <label>
          Level{' '}
          <select name="loa">
            {LEVELS.map((l) => (
              <option value={l} selected={l === 'operator'}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Expires (empty: never) <input name="until" type="datetime-local" />
        </label>
        <button type="submit" class="primary">
          Mint
        </button>
      </form>
      <ErrorNote error={error} />
      {license !== undefined && (
        <div role="status" aria-label="New license">
          <p>
            License for {license.owner.name} ({license.owner.id}) at {license.loa}, sealed by this
            runtime&apos;s Root key.{' '}
            {url !== undefined && (
              <a href={url} download={`license-${license.owner.name}.json`}>
                Save the license file
              </a>
            )}
          </p>
          <pre data-testid="new-license">{text}</pre>
        </div>
      )}
    </Card>
  );
}

function Validate() {
  const [error, setError] = useState<unknown>(undefined);
  const [check, setCheck] = useState<LicenseCheck | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const file = new FormData(event.currentTarget as HTMLFormElement).get('file');
    setError(undefined);
    setCheck(undefined);
    try {
      if (!(file instanceof File) || file.size === 0) throw new Error('Choose a license file.');
      let license: unknown;
      try {
        license = JSON.parse(await file.text());
      } catch {
        throw new Error('The file is not JSON: a license is a JSON document.');
      }
      if (typeof license !== 'object' || license === null || Array.isArray(license)) {
        throw new Error('The file is not a license: a license is a JSON object.');
      }
      setCheck(await api<LicenseCheck>('POST', '/api/license/validate', license));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Validate a license">
      <form aria-label="Validate a license" onSubmit={submit}>
        <label>
          License file <input name="file" type="file" accept=".json,application/json" required />
        </label>
        <button type="submit" class="primary">
          Validate
        </button>
      </form>
      <ErrorNote error={error} />
      {check !== undefined && (
        <p role="status" aria-label="License check" data-testid="license-check">
          {check.ok ? (
            <>
              <strong class="good">Valid</strong> for this runtime: {check.owner?.name} (
              {check.owner?.id}) at {check.loa}, expires{' '}
              {check.expires_at == null ? 'never' : <Time iso={check.expires_at} />}.
            </>
          ) : (
            <>
              <strong class="bad">Not valid</strong>: {check.reason}
            </>
          )}
        </p>
      )}
    </Card>
  );
}

export function Licenses() {
  const minted = useMinted();
  return (
    <>
      <h1>Licenses</h1>
      <Minted list={minted} />
      <Mint onMinted={minted.reload} />
      <Validate />
    </>
  );
}
