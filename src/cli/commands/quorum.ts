/**
 * `sigil quorum challenge|enrol|witnesses|genesis|propose|attest|status|commit`: each witness
 * enrols its own key (proof of possession over a challenge); genesis seals the initial set;
 * system changes then need Root and k Mentor witnesses, each voting with its own key.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../../core/canonical.ts';
import { publicKeyToRaw } from '../../core/ed25519.ts';
import { toBase64Url } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import {
  signAttestation,
  signEnrolment,
  type Proposal,
  type QuorumStatus,
  type WitnessEntry,
} from '../../quorum/index.ts';
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
  keyId?: string;
  signature?: string;
  provenanceSignature?: string;
}

interface EnrolOptions extends CallerOptions {
  keyId?: string;
  challenge?: string;
  publicKey?: string;
  proof?: string;
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

function entryText(e: WitnessEntry): string {
  const state =
    e.revoked_at !== null
      ? `removed ${e.revoked_at}`
      : e.admitted === null
        ? 'enrolled, not yet in force'
        : `in force (${e.admitted === 'genesis' ? 'genesis' : `proposal ${e.admitted}`})`;
  return `${e.role} witness ${e.did}: ${state}; key ${e.public_key}`;
}

function registerChallenge(quorum: Command): void {
  quorumCommand(
    quorum
      .command('challenge')
      .description(
        'a single-use challenge for enrolling your own witness key (sign it where the key lives)',
      ),
  ).action(async (opts: CallerOptions) => {
    const challenge = await withRuntime(opts, async (runtime) =>
      runtime.quorum.enrolmentChallenge(await callerFor(runtime, opts)),
    );
    printResult(
      opts,
      `challenge ${challenge.id} for ${challenge.subject} (${challenge.role}), nonce ` +
        `${challenge.nonce}, expires ${challenge.expires_at}`,
      challenge,
    );
  });
}

function registerEnrol(quorum: Command): void {
  quorumCommand(
    quorum
      .command('enrol')
      .description(
        'enrol your own witness key: the witness is your DID (a human Mentor, or Root for its slot)',
      )
      .option('--key-id <id>', 'prove possession of this key from the key store (one step)')
      .option('--challenge <id>', 'or answer a challenge from `sigil quorum challenge` …')
      .option('--public-key <b64url>', '… with the raw Ed25519 public key (base64url) …')
      .option('--proof <b64url>', '… and its typed human signature over the challenge'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  sigil generate-key --key-id alice\n  sigil quorum enrol --key-id alice --token $ALICE',
    )
    .action(async (opts: EnrolOptions) => {
      const local = opts.keyId !== undefined;
      const remote = [opts.challenge, opts.publicKey, opts.proof].filter((v) => v !== undefined);
      if (local ? remote.length > 0 : remote.length !== 3) {
        throw new SigilError(
          'bad_request',
          'give --key-id, or all of --challenge, --public-key and --proof',
        );
      }
      const entry = await withRuntime(opts, async (runtime) => {
        const caller = await callerFor(runtime, opts);
        if (!local) {
          return runtime.quorum.enrol(caller, {
            challenge_id: opts.challenge!,
            public_key: opts.publicKey!,
            proof: opts.proof!,
          });
        }
        const key = openKeyStore(dataDirOf(opts), process.env).load(opts.keyId!);
        const publicKey = toBase64Url(publicKeyToRaw(key.publicKey));
        const challenge = await runtime.quorum.enrolmentChallenge(caller);
        return runtime.quorum.enrol(caller, {
          challenge_id: challenge.id,
          public_key: publicKey,
          proof: signEnrolment(challenge, publicKey, key.privateKey),
        });
      });
      printResult(opts, `enrolled ${entryText(entry)}`, entry);
    });
}

function registerWitnesses(quorum: Command): void {
  quorumCommand(
    quorum.command('witnesses').description('every witness entry and the sealed genesis'),
  ).action(async (opts: CallerOptions) => {
    const result = await withRuntime(opts, async (runtime) =>
      runtime.quorum.witnesses(await callerFor(runtime, opts)),
    );
    const lines = result.witnesses.map(entryText);
    lines.push(
      result.genesis === null
        ? 'genesis: not sealed (no system change commits)'
        : `genesis: sealed ${result.genesis.sealed_at} by proposal ${result.genesis.proposal_id}`,
    );
    printResult(opts, lines.join('\n'), result);
  });
}

function registerGenesis(quorum: Command): void {
  quorumCommand(
    quorum
      .command('genesis')
      .description(
        'propose genesis: the enrolled Root and Mentors; it commits only once every one has attested',
      ),
  ).action(async (opts: CallerOptions) => {
    const proposal = await withRuntime(opts, async (runtime) =>
      runtime.quorum.genesis(await callerFor(runtime, opts)),
    );
    printResult(
      opts,
      `${proposalText(proposal)}\nnext: each witness runs sigil quorum attest --proposal ` +
        `${proposal.id} --key-id <key> --token <their token>`,
      wireProposal(proposal),
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
          '--key-id <key> --token <witness token>',
        wireProposal(proposal),
      );
    });
}

function registerAttest(quorum: Command): void {
  quorumCommand(
    quorum
      .command('attest')
      .description('vote for a proposal as the witness you are (your DID), with your own key')
      .requiredOption('--proposal <id>', 'the proposal id')
      .option('--key-id <id>', 'sign with your witness key from the key store')
      .option('--signature <b64url>', 'or submit a vote signed elsewhere …')
      .option('--provenance-signature <b64url>', '… with its provenance signature'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  sigil quorum attest --proposal <id> --key-id alice --token $ALICE',
    )
    .action(async (opts: AttestOptions) => {
      const given = opts.signature !== undefined && opts.provenanceSignature !== undefined;
      const partial = opts.signature !== undefined || opts.provenanceSignature !== undefined;
      if ((opts.keyId !== undefined) === partial || (partial && !given)) {
        throw new SigilError(
          'bad_request',
          'give --key-id, or both --signature and --provenance-signature',
        );
      }
      const result = await withRuntime(opts, async (runtime) => {
        const caller = await callerFor(runtime, opts);
        let signed = {
          signature: opts.signature!,
          provenance_signature: opts.provenanceSignature!,
        };
        if (opts.keyId !== undefined) {
          const key = openKeyStore(dataDirOf(opts), process.env).load(opts.keyId);
          const { proposal } = await runtime.quorum.get(caller, opts.proposal);
          signed = signAttestation(proposal, caller.subject, key.privateKey);
        }
        return runtime.quorum.attest(caller, { proposal_id: opts.proposal, ...signed });
      });
      const by = result.proposal.attestations.at(-1)?.witness_id ?? '';
      printResult(
        opts,
        `${by} attested proposal ${result.proposal.id}; ${statusText(result.status)}`,
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
    .description('witness enrolment, genesis, proposals, votes and commits for system changes');
  registerChallenge(quorum);
  registerEnrol(quorum);
  registerWitnesses(quorum);
  registerGenesis(quorum);
  registerPropose(quorum);
  registerAttest(quorum);
  registerStatus(quorum);
  registerCommit(quorum);
}
