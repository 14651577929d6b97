/** The API's answers as the dashboard reads them (snake_case, RFC 3339 times). */

export interface TrustStatus {
  decisions: { allow: number; deny: number; by_mode: Record<string, number> };
  threshold: number;
  mode: string;
  model: string;
  log_size: number;
  breaker: { open: boolean; critical_in_window: number; threshold: number };
}

export interface Checkpoint {
  origin: string;
  size: number;
  root_hash: string;
  timestamp: string | null;
  note: string;
  verifier_key: string;
}

export interface DecisionStats {
  minutes: number;
  since: string;
  per_minute: Array<{ minute: string; allow: number; deny: Record<string, number> }>;
  totals: { allow: number; deny: number };
  top_denied_actions: Array<{ action: string; count: number }>;
  top_denied_callers: Array<{ subject: string; count: number }>;
  log_size: number;
}

export interface GatewayStats {
  minutes: number;
  since: string;
  tools: Array<{
    upstream: string;
    tool: string;
    calls: number;
    timed: number;
    median_added_ms: number | null;
    median_upstream_ms: number | null;
  }>;
  scanned: number;
  complete: boolean;
}

export interface DecisionSummary {
  decision_id: string;
  seq: number;
  ts: string;
  verdict: 'allow' | 'deny';
  code: string | null;
  reason: string;
  mode: string;
  subject: string;
  loa: string;
  signer_type: string;
  action: string;
  target: string;
  score: number | null;
}

export interface DecisionPage {
  decisions: DecisionSummary[];
  before?: string;
  scanned: number;
}

export interface ReasoningStep {
  step: string;
  verdict: 'pass' | 'fail' | 'skip' | 'warn';
  reason: string;
  inputs: Record<string, unknown>;
}

export interface Decision {
  verdict: 'allow' | 'deny';
  code: string | null;
  reason: string;
  mode: string;
  threshold: number;
  would_deny: boolean;
  effective_loa: string;
  trust: {
    score: number;
    logit: number;
    contributions: Record<string, { value: number; weight: number; contribution: number }>;
  } | null;
  rules: Array<{
    rule: string;
    severity: number;
    description: string;
    passed: boolean;
    exempt: boolean;
    evidence: string[];
  }>;
  violations: Array<{ invariant: string; description: string; evidence: string[] }>;
  steps: ReasoningStep[];
}

export interface SealedRecord {
  seq: number;
  kind: string;
  schema_version: number;
  id: string;
  tenant: string;
  ts: string;
  space: string;
  payload: unknown;
  links: Array<{ rel: string; id: string }>;
  prev: string | null;
  hash: string;
  sig: string;
  pub_key: string;
  witnesses: unknown[];
}

/** What a version 2 decision record keeps; its steps and score breakdown come from replay. */
export interface RecordedDecision {
  verdict: 'allow' | 'deny';
  code: string | null;
  reason: string;
  mode: string;
  effective_loa: string;
  would_deny: boolean;
  requires_quorum: boolean;
  score: number | null;
  rules: Decision['rules'];
  violations: Decision['violations'];
}

export interface DecisionPayload {
  v?: 2;
  caller: { subject: string; loa: string; signer: { type: string }; source: string };
  request: { action: string; target: string };
  /** Version 1 records (no `v`) sealed the whole decision. */
  decision: Decision | RecordedDecision;
}

export interface Replay {
  decision_id: string;
  recorded: Decision | RecordedDecision;
  replayed: Decision;
  matches: boolean;
  identical: boolean;
}

export interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  hashes: string[];
  root_hash: string;
}

export interface ConsistencyProof {
  size1: number;
  size2: number;
  hashes: string[];
  root1: string;
  root2: string;
}

export interface Proposal {
  id: string;
  change: unknown;
  change_hash: string;
  required: { root: number; mentors: number };
  proposer: string;
  created_at: string;
  expires_at: string;
  status: 'pending' | 'committed';
  attestations: Array<{ witness_id: string; attested_at: string }>;
}

export interface QuorumStatus {
  root: number;
  mentors: number;
  required: { root: number; mentors: number };
  satisfied: boolean;
  counted: Array<{ witness_id: string; authority: string; timestamp: string }>;
  rejected: Array<{ witness_id: string; reason: string }>;
}

export interface Approval {
  id: string;
  decision_id: string;
  action: string;
  target: string;
  tool: string;
  arguments_hash: string;
  arguments: unknown;
  summary: string;
  requested_by: string;
  status: string;
  created_at: string;
  decided_by?: string;
  verdict_decision_id?: string;
  witness_id?: string;
}
