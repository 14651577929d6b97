/** The governance monitor: registered scanners' signed findings and the circuit breaker's window. */
import { findingsReportFromWire, wireFindingsReceipt } from '../../runtime/wire.ts';
import type { AddRoute } from '../route.ts';
import {
  DidParams,
  FindingsReceipt,
  FindingsReport,
  GovernanceStatus,
  ScannerInfo,
  ScannerRequest,
} from '../schemas.ts';

export function governanceRoutes(add: AddRoute): void {
  add({
    method: 'POST',
    url: '/api/governance/findings',
    summary:
      "Takes in a registered scanner's signed findings (each signed report once); critical ones feed the circuit breaker",
    tag: 'governance',
    auth: 'caller',
    loa: 'operator',
    body: FindingsReport,
    responses: { 201: { description: 'The sealed findings', schema: FindingsReceipt } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) =>
      wireFindingsReceipt(
        await runtime.governance.reportFindings(caller, findingsReportFromWire(body)),
      ),
  });

  add({
    method: 'GET',
    url: '/api/governance/status',
    summary: "The circuit breaker's window now, and the registered scanners",
    tag: 'governance',
    auth: 'caller',
    loa: 'observer',
    responses: { 200: { description: 'The breaker', schema: GovernanceStatus } },
    errors: [401, 403, 429],
    handler: async ({ caller, runtime }) => runtime.governance.status(caller),
  });

  add({
    method: 'POST',
    url: '/api/governance/scanners',
    summary: "Registers a scanner's key (a human Root): its signed findings are then taken in",
    tag: 'governance',
    auth: 'caller',
    loa: 'root',
    body: ScannerRequest,
    responses: { 201: { description: 'The scanner', schema: ScannerInfo } },
    errors: [400, 401, 403, 409, 413, 415, 429],
    handler: async ({ body, caller, runtime }) => runtime.governance.registerScanner(caller, body),
  });

  add({
    method: 'DELETE',
    url: '/api/governance/scanners/:did',
    summary: 'Revokes a scanner: its findings are refused from now on',
    tag: 'governance',
    auth: 'caller',
    loa: 'root',
    params: DidParams,
    responses: { 200: { description: 'The revoked scanner', schema: ScannerInfo } },
    errors: [400, 401, 403, 404, 429],
    handler: async ({ params, caller, runtime }) =>
      runtime.governance.revokeScanner(caller, params.did),
  });
}
