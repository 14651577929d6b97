/**
 * Modules (Operator+): the registered modules; run one with a JSON payload and see the
 * decision that allowed it (linked) and its result, or the denial and its decision.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { href } from '../router.ts';
import { Card, Empty, ErrorNote, Loading, useData } from '../ui.tsx';

interface ModuleOutput {
  module: string;
  output: unknown;
  decision_id: string;
}

function Run({ modules }: { modules: string[] }) {
  const [error, setError] = useState<unknown>(undefined);
  const [result, setResult] = useState<ModuleOutput | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = String(form.get('payload') ?? '').trim();
    setError(undefined);
    setResult(undefined);
    try {
      let input: unknown = null;
      if (text !== '') {
        try {
          input = JSON.parse(text);
        } catch {
          throw new Error('The payload is not valid JSON.');
        }
      }
      const name = String(form.get('module'));
      setResult(
        await api<ModuleOutput>('POST', `/api/module/${encodeURIComponent(name)}/run`, { input }),
      );
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Run a module">
      <form aria-label="Run a module" onSubmit={submit}>
        <label>
          Module{' '}
          <select name="module">
            {modules.map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Payload (JSON, optional){' '}
          <textarea name="payload" rows={4} placeholder='{"hello":"world"}' />
        </label>
        <button type="submit" class="primary">
          Run
        </button>
      </form>
      <ErrorNote error={error} />
      {result !== undefined && (
        <div role="status" aria-label="Module result">
          <p>
            Allowed: {result.module} ran (decision{' '}
            <a href={href('decisions', result.decision_id)}>{result.decision_id}</a>).
          </p>
          <pre data-testid="module-output">{JSON.stringify(result.output, null, 2)}</pre>
        </div>
      )}
    </Card>
  );
}

export function Modules() {
  const list = useData(() => api<{ modules: string[] }>('GET', '/api/modules'), []);
  const modules = list.data?.modules;
  return (
    <>
      <h1>Modules</h1>
      <ErrorNote error={list.error} />
      {modules === undefined ? (
        list.error === undefined && <Loading />
      ) : modules.length === 0 ? (
        <Card title="Registered modules">
          <Empty>No module is registered.</Empty>
        </Card>
      ) : (
        <>
          <Card title="Registered modules">
            <ul aria-label="Registered modules">
              {modules.map((m) => (
                <li>
                  <code>{m}</code>
                </li>
              ))}
            </ul>
          </Card>
          <Run modules={modules} />
        </>
      )}
    </>
  );
}
