/**
 * `sigil quorum register-witness|propose|attest|status|commit`: system changes need Root and
 * k Mentor witnesses, each a typed human Ed25519 signature over the proposal.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../../core/canonical.ts';
import { publicKeyToRaw } from '../../core/ed25519.ts';
import { toBase64Url } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import { signAttestation, type Proposal, type QuorumStatus } from '../../quorum/index.ts';
import { openKeyStore } from '../../runtime/keys.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { wireProposal } from '../../runtime/wire.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface ProposeOptions extends CallerOptions {
  change?: string;
  changeJson?: string;
}

interface AttestOptions extends CallerOptions {
  proposal: string;
  witnessId: string;
  keyId?: string;
  signature?: string;
}

interface RegisterOptions extends CallerOptions {
  witnessId: string;
  did: string;
  role: string;
  keyId?: string;
  publicKey?: string;
}

/** Adds the options every quorum command takes: --data-dir, --json, --token. */
function quorumCommand(cmd: Command): Command {
  return withTokenOption(withLogOptions(cmd));
}

function changeOf(opts: ProposeOptions): JsonValue {
  if ((opts.change === undefined) === (opts.changeJson === undefined)) {
    throw new SigilError('bad_request', 'give exactly one of --change <file> and --change-json');
  }
  let text: string;
  if (opts.changeJson !== undefined) {
    text = opts.changeJson;
  } else {
    try {
      text = readFileSync(opts.change === '-' ? 0 : opts.change!, 'utf8');
    } catch (err) {
      throw new SigilError('bad_request', `cannot read ${opts.change}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new SigilError('bad_request', 'the change is not valid JSON');
  }
}

function statusText(status: QuorumStatus): string {
  const { root, mentors, required } = status;
  const counts = `${root}/${required.root} Root, ${mentors}/${required.mentors} Mentors`;
  return status.satisfied ? `quorum satisfied (${counts})` : `quorum not yet met (${counts})`;
}

function proposalText(p: Proposal, status?: QuorumStatus): string {
  const lines = [
    `proposal ${p.id} (${p.status})`,
    `change hash: ${p.change_hash}`,
    `proposer:    ${p.proposer}`,
    `created:     ${p.created_at}; expires ${p.expires_at}`,
    `needs:       ${p.required.root} Root + ${p.required.mentors} Mentor witnesses`,
  ];
  for (const a of p.attestations) lines.push(`  attested by ${a.witness_id} at ${a.attested_at}`);
  if (status !== undefined) {
    lines.push(statusText(status));
    for (const r of status.rejected) lines.push(`  not counted: ${r.witness_id} (${r.reason})`);
  }
  return lines.join('\n');
}

function registerWitness(quorum: Command): void {
  quorumCommand(
    quorum
      .command('register-witness')
      .description('register a Root or Mentor witness key (human Root only)')
      .requiredOption('--witness-id <id>', 'name of the witness')
      .requiredOption('--did <did>', "the witness's DID")
      .requiredOption('--role <role>', 'mentor or root')
      .option('--key-id <id>', 'take the public key from this key in the key store')
      .option('--public-key <b64url>', 'or give the raw Ed25519 public key (base64url)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  sigil generate-key --key-id mentor1\n' +
        '  sigil quorum register-witness --witness-id mentor1 --did did:example:m1 --role mentor --key-id mentor1',
    )
    .action(async (opts: RegisterOptions) => {
      if (opts.role !== 'mentor' && opts.role !== 'root') {
        throw new SigilError('bad_request', `--role must be mentor or root, not ${opts.role}`);
      }
      if ((opts.keyId === undefined) === (opts.publicKey === undefined)) {
        throw new SigilError('bad_request', 'give exactly one of --key-id and --public-key');
      }
      const role = opts.role;
      const entry = await withRuntime(opts, async (runtime) => {
        const publicKey =
          opts.publicKey ??
          toBase64Url(
            publicKeyToRaw(openKeyStore(dataDirOf(opts), process.env).load(opts.keyId!).publicKey),
          );
        return runtime.quorum.registerWitness(await callerFor(runtime, opts), {
          witness_id: opts.witnessId,
          did: opts.did,
          role,
          public_key: publicKey,
        });
      });
      printResult(
        opts,
        `registered ${entry.role} witness ${entry.witness_id} (${entry.did}), key ${entry.public_key}`,
        entry,
      );
    });
}

function registerPropose(quorum: Command): void {
  quorumCommand(
    quorum
      .command('propose')
      .description('propose a system change; it takes effect only when committed with a quorum')
      .option('--change <file>', 'the change as a JSON file (- for stdin)')
      .option('--change-json <json>', 'or the change as JSON text'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  sigil quorum propose --change-json \'{"setting":"threshold","value":0.5}\'',
    )
    .action(async (opts: ProposeOptions) => {
      const change = changeOf(opts);
      const proposal = await withRuntime(opts, async (runtime) =>
        runtime.quorum.propose(await callerFor(runtime, opts), change),
      );
      printResult(
        opts,
        `${proposalText(proposal)}\nnext: sigil quorum attest --proposal ${proposal.id} ` +
          '--witness-id <id> --key-id <key>',
        wireProposal(proposal),
      );
    });
}

function registerAttest(quorum: Command): void {
  quorumCommand(
    quorum
      .command('attest')
      .description("add a witness's typed human signature to a proposal")
      .requiredOption('--proposal <id>', 'the proposal id')
      .requiredOption('--witness-id <id>', 'the registered witness')
      .option('--key-id <id>', "sign with the witness's key from the key store")
      .option('--signature <b64url>', 'or submit a signature made elsewhere'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  sigil quorum attest --proposal <id> --witness-id mentor1 --key-id mentor1',
    )
    .action(async (opts: AttestOptions) => {
      if ((opts.keyId === undefined) === (opts.signature === undefined)) {
        throw new SigilError('bad_request', 'give exactly one of --key-id and --signature');
      }
      const result = await withRuntime(opts, async (runtime) => {
        const caller = await callerFor(runtime, opts);
        let signature = opts.signature;
        if (signature === undefined) {
          const key = openKeyStore(dataDirOf(opts), process.env).load(opts.keyId!);
          const { proposal } = await runtime.quorum.get(caller, opts.proposal);
          signature = signAttestation(proposal, key.privateKey, { type: 'human' });
        }
        return runtime.quorum.attest(caller, {
          proposal_id: opts.proposal,
          witness_id: opts.witnessId,
          signature,
        });
      });
      printResult(
        opts,
        `${opts.witnessId} attested proposal ${result.proposal.id}; ${statusText(result.status)}`,
        { ...result, proposal: wireProposal(result.proposal) },
      );
    });
}

function registerStatus(quorum: Command): void {
  quorumCommand(
    quorum
      .command('status')
      .description('show one proposal and its quorum count, or list all proposals')
      .argument('[id]', 'the proposal id'),
  )
    .addHelpText('after', '\nExamples:\n  sigil quorum status\n  sigil quorum status <id> --json')
    .action(async (id: string | undefined, opts: CallerOptions) => {
      if (id !== undefined) {
        const result = await withRuntime(opts, async (runtime) =>
          runtime.quorum.get(await callerFor(runtime, opts), id),
        );
        printResult(opts, proposalText(result.proposal, result.status), {
          ...result,
          proposal: wireProposal(result.proposal),
        });
        return;
      }
      const proposals = await withRuntime(opts, async (runtime) =>
        runtime.quorum.list(await callerFor(runtime, opts)),
      );
      const rows = proposals.map(
        (p) =>
          `${p.id}\t${p.status}\t${p.attestations.length} attestations\texpires ${p.expires_at}`,
      );
      printResult(opts, rows.join('\n') || '(no proposals)', {
        proposals: proposals.map(wireProposal),
      });
    });
}

function registerCommit(quorum: Command): void {
  quorumCommand(
    quorum
      .command('commit')
      .description('apply a proposal once Root + k Mentors have attested (else quorum_required)')
      .argument('<id>', 'the proposal id'),
  )
    .addHelpText('after', '\nExample:\n  sigil quorum commit <id>')
    .action(async (id: string, opts: CallerOptions) => {
      const result = await withRuntime(opts, async (runtime) =>
        runtime.quorum.commit(await callerFor(runtime, opts), id),
      );
      printResult(
        opts,
        `committed proposal ${result.proposal.id} as record ${result.record.id} (seq ${result.record.seq})`,
        { ...result, proposal: wireProposal(result.proposal) },
      );
    });
}

export function registerQuorum(program: Command): void {
  const quorum = program
    .command('quorum')
    .description('witnesses, proposals, attestations and commits for system changes');
  registerWitness(quorum);
  registerPropose(quorum);
  registerAttest(quorum);
  registerStatus(quorum);
  registerCommit(quorum);
}
