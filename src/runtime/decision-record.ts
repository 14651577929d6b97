/**
 * The one reader of a sealed `decision` record's payload (and of the `decision_policy` and
 * `decision_input` records later versions name). The record is signed, so its bytes are Sigil's;
 * the check says it is a decision this Sigil can read (the fields the decision list, the counts
 * and replay use), whatever version sealed it. A record that does not parse is refused as
 * 'state_invalid', never read as a decision with missing fields.
 */
import { z } from 'zod';
import type { SealedRecord } from '../canon/log.ts';
import { SigilError } from '../core/errors.ts';
import { ENFORCEMENT_MODES, LOAS } from '../policy/index.ts';
import type { DecisionInput, DecisionPayload, DecisionPolicy } from './frozen.ts';

const SIGNER_TYPES = ['human', 'ai'] as const;
const VERDICTS = ['allow', 'deny'] as const;
type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIn = (list: readonly string[], v: unknown): boolean =>
  typeof v === 'string' && list.includes(v);

/**
 * The fields every reader uses, checked by hand: the tally reads each decision sealed by any
 * instance, and a zod object schema copies the whole payload (state included) to check four
 * members of it, which cost more than decrypting the record. Unknown members are allowed.
 */
function isDecisionPayload(payload: unknown): payload is DecisionPayload {
  if (!isObject(payload)) return false;
  const { caller, request, state, decision } = payload;
  return (
    isObject(caller) &&
    typeof caller.subject === 'string' &&
    isIn(LOAS, caller.loa) &&
    isObject(caller.signer) &&
    isIn(SIGNER_TYPES, caller.signer.type) &&
    isObject(request) &&
    typeof request.action === 'string' &&
    typeof request.target === 'string' &&
    isObject(state) &&
    isObject(decision) &&
    isIn(VERDICTS, decision.verdict) &&
    (decision.code === null || typeof decision.code === 'string') &&
    typeof decision.reason === 'string' &&
    isIn(ENFORCEMENT_MODES, decision.mode)
  );
}
/** The payload of a sealed decision record ('state_invalid' when it is not a decision's). */
export function decisionPayloadOf(record: SealedRecord): DecisionPayload {
  const { payload } = record;
  if (record.kind !== 'decision' || !isDecisionPayload(payload)) {
    throw new SigilError(
      'state_invalid',
      `record ${record.id} (seq ${record.seq}) is not a decision this Sigil reads`,
      { record_id: record.id, seq: record.seq },
    );
  }
  return payload;
}

const decisionPolicyRecord: z.ZodType<DecisionPolicy> = z.looseObject({
  constitution: z.string(),
  model: z.string(),
  flags: z.looseObject({
    allow_operator_canon_write: z.boolean(),
    allow_admin_export: z.boolean(),
  }),
  system_critical: z.array(z.string()),
  mode: z.enum(ENFORCEMENT_MODES),
  threshold: z.number(),
});

/** The policy a sealed `decision_policy` record holds ('state_invalid' when it is not one). */
export function decisionPolicyOf(record: SealedRecord): DecisionPolicy {
  const parsed = decisionPolicyRecord.safeParse(record.payload);
  if (record.kind !== 'decision_policy' || !parsed.success) {
    throw new SigilError(
      'state_invalid',
      `record ${record.id} (seq ${record.seq}) is not a decision policy this Sigil reads`,
      { record_id: record.id, seq: record.seq },
    );
  }
  return parsed.data;
}

const ruleResult = z.looseObject({
  rule: z.string(),
  severity: z.number(),
  description: z.string(),
  passed: z.boolean(),
  exempt: z.boolean(),
  evidence: z.array(z.string()),
});
const decisionInputRecord = z.discriminatedUnion('input', [
  z.looseObject({
    input: z.literal('consent'),
    value: z.looseObject({
      bailments: z.array(z.looseObject({})),
      grants: z.array(z.looseObject({})),
    }),
  }),
  z.looseObject({ input: z.literal('mcp_rules'), value: z.array(ruleResult) }),
]);

/** The input a sealed `decision_input` record holds ('state_invalid' when it is not one). */
export function decisionInputOf(record: SealedRecord): DecisionInput {
  const parsed = decisionInputRecord.safeParse(record.payload);
  if (record.kind !== 'decision_input' || !parsed.success) {
    throw new SigilError(
      'state_invalid',
      `record ${record.id} (seq ${record.seq}) is not a decision input this Sigil reads`,
      { record_id: record.id, seq: record.seq },
    );
  }
  return parsed.data as unknown as DecisionInput;
}
