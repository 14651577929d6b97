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
