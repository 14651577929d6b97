/**
 * Memory blocks: small JSON values a subject keeps, readable by their owner (or an auditor, by
 * the read-access table; Root holds no such grant by its level).
 */
import type { JsonValue } from '../../core/canonical.ts';
import { canonicalBytes } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import type { RuntimeCore } from '../core.ts';
import { mayReadKind } from '../read-access.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';

const MEMORY_BLOCK_BYTES = 16 * 1024;
const MEMORY_KEY_RE = /^[A-Za-z0-9._:/-]{1,128}$/;

export interface MemoryEntry {
  key: string;
  owner: string;
  updated_at: string;
  record_id: string;
}

function slot(owner: string, key: string): string {
  return `${owner} ${key}`;
}

/** Seals a block (at most 16 KiB canonical) as a `memory_block` record under the caller. */
export async function memoryWrite(
  core: RuntimeCore,
  caller: Caller,
  input: { key: string; value: JsonValue },
): Promise<{ key: string; owner: string; record_id: string; seq: number }> {
  if (typeof input.key !== 'string' || !MEMORY_KEY_RE.test(input.key)) {
    throw new SigilError('bad_request', 'memory key must be 1–128 characters of [A-Za-z0-9._:/-]');
  }
  if (canonicalBytes(input.value ?? null).length > MEMORY_BLOCK_BYTES) {
    throw new SigilError('payload_too_large', 'a memory block holds at most 16 KiB');
  }
  await core.require(caller, {
    action: 'memory.write',
    target: `memory/${input.key}`,
    payload: input.value,
  });
  const record = await core.append('memory_block', {
    owner: caller.subject,
    key: input.key,
    value: input.value,
  });
  return { key: input.key, owner: caller.subject, record_id: record.id, seq: record.seq };
}

/** The blocks whose bodies the caller may read: its own (every block for an auditor). */
export async function memoryList(core: RuntimeCore, caller: Caller): Promise<MemoryEntry[]> {
  await core.require(caller, { action: 'memory.read', target: 'memory' });
  return (await VIEWS.memory.list(core.log.views))
    .map((r) => r.value)
    .filter((m) => mayReadKind(caller, 'memory_block', m.owner));
}

/** One block: the caller's own, or anyone's for an auditor ('memory_not_found'). */
export async function memoryRead(
  core: RuntimeCore,
  caller: Caller,
  key: string,
  owner?: string,
): Promise<{ key: string; owner: string; value: JsonValue; record_id: string }> {
  const whose = owner ?? caller.subject;
  await core.require(caller, { action: 'memory.read', target: `memory/${key}` });
  if (!mayReadKind(caller, 'memory_block', whose)) {
    throw new SigilError('forbidden', 'a memory block is read by its owner (or with canon.audit)');
  }
  const pointer = await VIEWS.memory.get(core.log.views, slot(whose, key));
  const record = pointer ? await core.log.get(pointer.record_id) : undefined;
  if (!record) throw new SigilError('memory_not_found', `no memory block ${key}`);
  const payload = record.payload as { value: JsonValue };
  return { key, owner: whose, value: payload.value, record_id: record.id };
}

/** The memory room (`runtime.memory`): each caller's sealed key/value memory. */
export function memoryService(core: RuntimeCore) {
  return {
    write: (
      caller: Caller,
      input: { key: string; value: JsonValue },
    ): Promise<{ key: string; owner: string; record_id: string; seq: number }> =>
      memoryWrite(core, caller, input),
    list: (caller: Caller): Promise<MemoryEntry[]> => memoryList(core, caller),
    read: (
      caller: Caller,
      key: string,
      owner?: string,
    ): Promise<{ key: string; owner: string; value: JsonValue; record_id: string }> =>
      memoryRead(core, caller, key, owner),
  };
}
export type MemoryService = ReturnType<typeof memoryService>;
