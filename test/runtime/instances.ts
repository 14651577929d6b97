/** Two runtimes on one store (one data dir, one SQLite file or one PostgreSQL database). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogReader, SealedRecord } from '../../src/canon/log.ts';
import type { RecordKind } from '../../src/canon/record.ts';
import type { Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { signFindings, type Finding } from '../../src/gatekeeper/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { SigilRuntime, type Caller } from '../../src/runtime/index.ts';
import { freshDatabase } from '../canon/helpers/pg.ts';

export interface Instances {
  a: SigilRuntime;
  b: SigilRuntime;
  rootToken: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  reopen(): Promise<SigilRuntime>;
  cleanup(): Promise<void>;
}

export async function twoInstances(backend: 'sqlite' | 'postgres'): Promise<Instances> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigil-settings-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
    ...(backend === 'postgres'
      ? { MMF_DB_BACKEND: 'postgres', MMF_DATABASE_URL: await freshDatabase() }
      : {}),
  };
  const config = loadConfig({ env, dataDir });
  const boot = await SigilRuntime.bootstrap({ config, env });
  const a = boot.runtime;
  const b = await SigilRuntime.open({ config, env });
  const opened: SigilRuntime[] = [a, b];
  return {
    a,
    b,
    rootToken: boot.rootToken!,
    dataDir,
    env,
    async reopen() {
      const r = await SigilRuntime.open({ config, env });
      opened.push(r);
      return r;
    },
    async cleanup() {
      for (const r of opened) await r.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every record of `kind` in the log, page by page. */
export async function recordsOfKind(log: LogReader, kind: RecordKind): Promise<SealedRecord[]> {
  const out: SealedRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await log.list({ kind, limit: 1000, ...(cursor !== undefined && { cursor }) });
    out.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return out;
}

/**
 * An AI agent `did` acting for Root: a delegation of `mcp.tools.call`, an Operator token on it,
 * and Root's consent for retrieval (its id) unless `consent` is false.
 */
export async function mcpAgent(
  r: SigilRuntime,
  root: Caller,
  did: string,
  consent = true,
): Promise<{ token: string; delegationId: string; consentId: string | undefined }> {
  const { delegation_id } = await r.delegations.create(root, {
    to: did,
    actions: ['mcp.tools.call'],
  });
  const { token } = await r.tokens.create(root, {
    subject: did,
    loa: 'operator',
    signer: { type: 'ai', delegationId: delegation_id },
    scopes: ['mcp.tools.call'],
  });
  const granted = consent
    ? await r.consent.grant(root, { bailee: did, scope: 'mcp.tools.call', purpose: 'retrieval' })
    : undefined;
  return { token, delegationId: delegation_id, consentId: granted?.id };
}

/** A findings report of `critical` critical findings (scan `scan`), signed by scanner `did`. */
export function criticalReport(did: string, keys: Ed25519KeyPair, scan: string, critical: number) {
  const findings: Finding[] = Array.from({ length: critical }, (_, i) => ({
    finding_id: `${scan}-${i}`,
    severity: 'critical',
    title: `finding ${i} of ${scan}`,
  }));
  return {
    attestation: signFindings(findings, did, { type: 'human' }, keys.privateKey),
    findings,
  };
}
