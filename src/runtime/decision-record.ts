/**
 * The one reader of a sealed `decision` record's payload (and of the `decision_policy` records
 * version 2 decisions name). The record is signed, so its bytes
 * are Sigil's; the schema says it is a decision this Sigil can read (the fields the decision
 * list, the counts and replay use), whatever version sealed it. A record that does not parse is
 * refused as 'state_invalid', never read as a decision with missing fields.
 */
import { z } from 'zod';
import type { SealedRecord } from '../canon/log.ts';
import { SigilError } from '../core/errors.ts';
import { ENFORCEMENT_MODES, LOAS } from '../policy/index.ts';
import type { DecisionPayload, DecisionPolicy } from './frozen.ts';

const decisionRecord = z.looseObject({
  caller: z.looseObject({
    subject: z.string(),
    loa: z.enum(LOAS),
    signer: z.looseObject({ type: z.enum(['human', 'ai']) }),
  }),
  request: z.looseObject({ action: z.string(), target: z.string() }),
  state: z.looseObject({}),
  decision: z.looseObject({
    verdict: z.enum(['allow', 'deny']),
    code: z.string().nullable(),
    reason: z.string(),
    mode: z.enum(ENFORCEMENT_MODES),
  }),
});

function isDecisionPayload(payload: unknown): payload is DecisionPayload {
  return decisionRecord.safeParse(payload).success;
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
