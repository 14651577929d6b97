/**
 * The top-level commands, and the module that registers each. `sigil <command>` loads only that
 * command's module (and so only its dependencies); `sigil --help` and bare `sigil` list the
 * commands from here without loading any. test/cli/commands-index.test.ts checks that each
 * entry matches what its module registers.
 */
import type { Command } from 'commander';

/** A module of top-level commands. */
export interface CommandModule {
  /** Each command the module registers: its help term ("name [options] <arg>") and description. */
  commands: ReadonlyArray<readonly [term: string, description: string]>;
  load: () => Promise<(program: Command) => void>;
}

export const commandModules: readonly CommandModule[] = [
  {
    commands: [
      [
        'init [options]',
        'create a data dir: log, keys, the Root license and a Root token (printed once)',
      ],
    ],
    load: async () => (await import('./init.ts')).registerInit,
  },
  {
    commands: [
      [
        'serve [options]',
        'serve the HTTP API (initialises a new data dir and prints its Root token once)',
      ],
    ],
    load: async () => (await import('./serve.ts')).registerServe,
  },
  {
    commands: [
      [
        'whoami [options]',
        'show who a token, a license or this runtime is: subject, LOA, signer, expiry',
      ],
    ],
    load: async () => (await import('./whoami.ts')).registerWhoami,
  },
  {
    commands: [['token', 'create, list and revoke API tokens (Root only)']],
    load: async () => (await import('./token.ts')).registerToken,
  },
  {
    commands: [
      [
        'generate-license [options]',
        'mint a license sealed by the Root key (Root only; one Root license)',
      ],
    ],
    load: async () => (await import('./license.ts')).registerLicense,
  },
  {
    commands: [['trust', 'run trust decisions, read trust status, fit the trust model']],
    load: async () => (await import('./trust.ts')).registerTrust,
  },
  {
    commands: [
      ['consent', 'grant or revoke consent for an agent to act on your data (MCP rule mcp-006)'],
    ],
    load: async () => (await import('./consent.ts')).registerConsent,
  },
  {
    commands: [
      [
        'delegate [options]',
        'delegate actions to an agent (a signed authority link); revoke or show one',
      ],
    ],
    load: async () => (await import('./delegate.ts')).registerDelegate,
  },
  {
    commands: [['role', 'grant (through the quorum), revoke and list governed roles']],
    load: async () => (await import('./role.ts')).registerRole,
  },
  {
    commands: [
      ['governance', "scanners' signed findings and the circuit breaker that stops AI actors"],
    ],
    load: async () => (await import('./governance.ts')).registerGovernance,
  },
  {
    commands: [['canon', 'write and read canon records']],
    load: async () => (await import('./canon.ts')).registerCanon,
  },
  {
    commands: [
      [
        'export [options]',
        'stream sealed records for a SIEM: envelopes, bodies where the credential may read them',
      ],
    ],
    load: async () => (await import('./export.ts')).registerExport,
  },
  {
    commands: [
      [
        'validate [options]',
        'check every record (hash, signature, chain, encryption) and every checkpoint (Merkle root, signature)',
      ],
    ],
    load: async () => (await import('./validate.ts')).registerValidate,
  },
  {
    commands: [
      [
        'migrate [options]',
        'move the store to the current log format (stop every instance first); a no-op when current',
      ],
    ],
    load: async () => (await import('./migrate.ts')).registerMigrate,
  },
  {
    commands: [
      ['state', 'the views Sigil acts on (tokens, consent, witnesses, …), projected from the log'],
    ],
    load: async () => (await import('./state.ts')).registerState,
  },
  {
    commands: [['log', 'checkpoints, proofs and witness status of the transparency log']],
    load: async () => (await import('./log.ts')).registerLog,
  },
  {
    commands: [
      ['witness', 'run Sigil as a log witness (C2SP tlog-witness cosigner) for other logs'],
    ],
    load: async () => (await import('./witness.ts')).registerWitness,
  },
  {
    commands: [
      ['quorum', 'witness enrolment, genesis, proposals, votes and commits for system changes'],
    ],
    load: async () => (await import('./quorum.ts')).registerQuorum,
  },
  {
    commands: [
      [
        'generate-key [options]',
        'create an Ed25519 key pair in the encrypted key store (<data-dir>/keys)',
      ],
      ['sign [options]', 'sign data with a key from the key store (Ed25519, base64url signature)'],
      ['verify [options]', 'check an Ed25519 signature (exit 1 when it does not verify)'],
    ],
    load: async () => (await import('./keypair.ts')).registerKeypair,
  },
  {
    commands: [['keys', 'manage the keys protecting the log']],
    load: async () => (await import('./keys.ts')).registerKeys,
  },
  {
    commands: [
      [
        'gateway [options]',
        'serve MCP to an agent (stdio, or Streamable HTTP with --listen) and govern every call to the upstream MCP servers of gateway.toml',
      ],
    ],
    load: async () => (await import('./gateway.ts')).registerGateway,
  },
  {
    commands: [
      [
        'approve [options] <id>',
        'sign a verdict on a pending gateway call (approve, or --reject); human Mentor or Root with an enrolled witness key',
      ],
      [
        'approvals [options]',
        'list gateway calls waiting for a human approval, with their arguments (--all: decided ones too)',
      ],
    ],
    load: async () => (await import('./approve.ts')).registerApprove,
  },
];

/** The command name of a help term. */
export function commandName(term: string): string {
  return term.split(' ', 1)[0]!;
}
