/**
 * Token and license rows as standing reads them: a row rolled back past its revocation (its old
 * MAC still good) is dropped, or refuses a listing shown to a caller.
 */
import { staleRows, type RuntimeCore } from '../core.ts';
import { VIEWS, type StoredToken } from '../view-ns.ts';

/**
 * Every token row but those rolled back past their revocation (dropped, so they count for no
 * standing), or `refuse`: such a row refuses the whole listing.
 */
export async function liveTokenRows(core: RuntimeCore, refuse = false): Promise<StoredToken[]> {
  const rows = await VIEWS.tokens.list(core.log.views);
  const stale = await staleRows(core, 'token_event', VIEWS.tokens.name, rows);
  if (refuse) for (const { error } of stale.values()) throw error;
  return rows.filter((r) => !stale.has(r.key)).map((r) => r.value);
}

/**
 * Every license row but those rolled back past their revocation (dropped: they count for no
 * standing), or `refuse`: such a row refuses the whole listing.
 */
export async function liveLicenseRows(core: RuntimeCore, refuse = false) {
  const rows = await VIEWS.licenses.list(core.log.views);
  const stale = await staleRows(core, 'license_event', VIEWS.licenses.name, rows);
  if (refuse) for (const { error } of stale.values()) throw error;
  return rows.filter((r) => !stale.has(r.key));
}
