import { utf8Encode } from '../core/encoding.ts';

/**
 * The constitution the kernel is created from. Its hash is pinned by the kernel; changing the
 * text changes every decision record's `constitution` field, so a swap is visible in the log.
 */
export const CONSTITUTION_TEXT = `Sigil constitution v2
1. Powers stay separate: no actor holds roles in two branches.
2. Acting on another subject's data needs that subject's active consent covering the act.
3. No actor widens its own permissions.
4. A human Root can always stop any process; nothing may disable, revoke or outrank the last one.
5. The kernel's configuration and this constitution are not modified at run time.
6. Delegated authority is a signed chain of at most five links.
7. System changes need a legitimate quorum of human, independent, first-order witnesses.
8. Every AI actor's act carries signed, verifiable provenance.
9. Credentials (tokens, licenses, witness keys, consent over another's data) are only ever made by humans.
`;

export const CONSTITUTION_BYTES: Uint8Array = utf8Encode(CONSTITUTION_TEXT);
