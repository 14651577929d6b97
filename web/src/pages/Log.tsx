/**
 * The log explorer: records by kind, a page at a time; one record's envelope and body; and
 * verification in this browser — the checkpoint's Ed25519 signature, the record's inclusion
 * proof, and consistency with the checkpoint saved on the last visit.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { href, route } from '../router.ts';
import { loadSaved, save } from '../saved.ts';
import type { Checkpoint, ConsistencyProof, InclusionProof, SealedRecord } from '../types.ts';
import { Card, Empty, ErrorNote, Loading, Short, Time, useData } from '../ui.tsx';
import {
  toHex,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  type Check,
} from '../verify.ts';

const KINDS = [
  'decision',
  'user_data',
  'system_config',
  'audit_record',
  'checkpoint',
  'model_config',
  'token_event',
  'license_event',
  'witness_event',
  'consent_event',
  'holon_event',
  'quorum_event',
  'kernel_verdict',
  'governance_event',
  'memory_block',
  'rag_doc',
  'mcp_call',
];
const PAGE_SIZE = 25;

function Result({ check, testid }: { check: Check | undefined; testid: string }) {
  if (check === undefined) return null;
  return (
    <p data-testid={testid} role="status" class={check.ok ? 'good' : 'bad'}>
      {check.ok ? '✔ Verified: ' : '✘ Not verified: '}
      {check.detail}
    </p>
  );
}

async function errorCheck(fn: () => Promise<Check>): Promise<Check> {
  try {
    return await fn();
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** The latest checkpoint, its signature checked here, and consistency with the last visit's. */
function SinceLastVisit() {
  const [check, setCheck] = useState<Check | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setCheck(
      await errorCheck(async () => {
        const cp = await api<Checkpoint>('GET', '/api/log/checkpoint');
        const now = await verifyCheckpoint(cp.note, cp.verifier_key);
        const before = await loadSaved(now.origin);
        let result: Check;
        if (before === undefined) {
          result = {
            ok: true,
            detail: `checkpoint signature valid (size ${now.size}); saved for your next visit`,
          };
        } else {
          const old = await verifyCheckpoint(before.note, cp.verifier_key);
          if (old.size > now.size) {
            return { ok: false, detail: `the log shrank from ${old.size} to ${now.size} records` };
          }
          const proof = await api<ConsistencyProof>(
            'GET',
            `/api/log/proof/consistency?from=${old.size}&to=${now.size}`,
          );
          result = await verifyConsistency(old, now, proof);
        }
        // Only a checkpoint that verified replaces the saved one.
        if (result.ok) {
          await save({
            origin: now.origin,
            size: now.size,
            root_hash: toHex(now.root),
            note: cp.note,
            saved_at: new Date().toISOString(),
          });
        }
        return result;
      }),
    );
    setBusy(false);
  };
  return (
    <Card title="Since my last visit">
      <p class="muted">
        Checks the latest signed checkpoint in this browser and proves the log only grew since the
        checkpoint this browser saved last time (kept in IndexedDB: public data only).
      </p>
      <button type="button" onClick={run} disabled={busy}>
        Check since my last visit
      </button>
      <Result check={check} testid="consistency" />
    </Card>
  );
}

function RecordList() {
  const { query } = route.value;
  const kind = query.get('kind') ?? '';
  const [stack, setStack] = useState<{ kind: string; cursors: string[] }>({ kind, cursors: [] });
  const cursors = stack.kind === kind ? stack.cursors : [];
  const cursor = cursors[cursors.length - 1];
  const page = useData(() => {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (kind !== '') q.set('kind', kind);
    if (cursor !== undefined) q.set('cursor', cursor);
    return api<{ records: SealedRecord[]; cursor?: string }>('GET', `/api/canon/records?${q}`);
  }, [kind, cursor]);
  const p = page.data;
  return (
    <Card title="Records">
      <form class="filters" aria-label="Filter records">
        <label>
          Kind
          <select
            name="kind"
            value={kind}
            onChange={(e) => {
              const v = (e.currentTarget as HTMLSelectElement).value;
              location.hash = v === '' ? href('log') : `${href('log')}?kind=${v}`;
            }}
          >
            <option value="">every kind</option>
            {KINDS.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={page.error} />
      {p === undefined ? (
        page.error === undefined && <Loading />
      ) : p.records.length === 0 ? (
        <Empty>No records{kind !== '' ? ` of kind ${kind}` : ''} here.</Empty>
      ) : (
        <table aria-label="Records">
          <thead>
            <tr>
              <th scope="col">Seq</th>
              <th scope="col">Kind</th>
              <th scope="col">Id</th>
              <th scope="col">Time</th>
              <th scope="col">Hash</th>
            </tr>
          </thead>
          <tbody>
            {p.records.map((r) => (
              <tr>
                <td>{r.seq}</td>
                <td>{r.kind}</td>
                <td>
                  <a href={href('log', r.id)}>{r.id}</a>
                </td>
                <td>
                  <Time iso={r.ts} />
                </td>
                <td>
                  <Short value={r.hash} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setStack({ kind, cursors: cursors.slice(0, -1) })}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={p?.cursor === undefined}
          onClick={() => p?.cursor && setStack({ kind, cursors: [...cursors, p.cursor] })}
        >
          Next
        </button>
      </div>
    </Card>
  );
}

function RecordDetail({ id }: { id: string }) {
  const rec = useData(
    () => api<SealedRecord>('GET', `/api/canon/records/${encodeURIComponent(id)}`),
    [id],
  );
  const [check, setCheck] = useState<Check | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  if (rec.error !== undefined) return <ErrorNote error={rec.error} />;
  const r = rec.data;
  if (r === undefined) return <Loading />;
  const verify = async () => {
    setBusy(true);
    setCheck(
      await errorCheck(async () => {
        const cp = await api<Checkpoint>('GET', '/api/log/checkpoint');
        const signed = await verifyCheckpoint(cp.note, cp.verifier_key);
        if (r.seq >= signed.size) {
          return {
            ok: false,
            detail: `the latest checkpoint (size ${signed.size}) predates this record`,
          };
        }
        const proof = await api<InclusionProof>(
          'GET',
          `/api/log/proof/inclusion?seq=${r.seq}&size=${signed.size}`,
        );
        return verifyInclusion(r, proof, signed);
      }),
    );
    setBusy(false);
  };
  const { payload, ...envelope } = r;
  return (
    <>
      <h1>
        Record {r.seq} <span class="muted">({r.kind})</span>
      </h1>
      <Card title="Verify in my browser">
        <p class="muted">
          Fetches the signed checkpoint and this record’s inclusion proof, then checks the Ed25519
          signature, the record’s hash and the audit path here, with WebCrypto.
        </p>
        <button type="button" class="primary" onClick={verify} disabled={busy}>
          Verify in my browser
        </button>
        <Result check={check} testid="inclusion" />
      </Card>
      {r.kind === 'decision' && (
        <p>
          <a href={href('decisions', r.id)}>This decision, explained</a>
        </p>
      )}
      <Card title="Envelope">
        <pre tabIndex={0}>{JSON.stringify(envelope, null, 2)}</pre>
      </Card>
      <Card title="Body">
        <pre tabIndex={0}>{JSON.stringify(payload, null, 2)}</pre>
      </Card>
    </>
  );
}

export function Log() {
  const id = route.value.parts[1];
  if (id !== undefined) return <RecordDetail id={id} />;
  return (
    <>
      <h1>Log</h1>
      <SinceLastVisit />
      <RecordList />
    </>
  );
}
