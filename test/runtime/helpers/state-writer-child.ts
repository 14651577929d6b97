/**
 * Child process for the state crash test: opens the runtime and, in `loops` concurrent loops,
 * creates and revokes tokens, grants and revokes consent, enrols witnesses, requests and
 * approves approvals, printing one line the moment each write resolves (a synchronous write, so
 * a printed line is an acknowledged write). The environment names the data dir's backend.
 * Usage: state-writer-child.ts <dataDir> <rootToken> <loops>
 */
import { writeSync } from 'node:fs';
import { loadConfig } from '../../../src/config/index.ts';
import { generateKeyPair, publicKeyToRaw } from '../../../src/core/ed25519.ts';
import { toBase64Url } from '../../../src/core/encoding.ts';
import { signApproval } from '../../../src/gatekeeper/index.ts';
import { signEnrolment } from '../../../src/quorum/index.ts';
import { SigilRuntime } from '../../../src/runtime/index.ts';

const [dataDir, rootToken, loops = '2'] = process.argv.slice(2);
const runtime = await SigilRuntime.open({
  config: loadConfig({ env: process.env, dataDir: dataDir! }),
  env: process.env,
});
const root = await runtime.tokens.authenticate(rootToken);
const ack = (line: string) => writeSync(1, `${line}\n`);
ack('ready');
let n = 0;

async function writeForever(): Promise<never> {
  for (;;) {
    const i = `${process.pid}-${n++}`;
    const subject = `did:sigil:crash-${i}`;
    const { token, info } = await runtime.tokens.create(root, {
      subject,
      loa: 'observer',
      signer: { type: 'human' },
    });
    ack(`token ${info.id} ${token}`);
    await runtime.tokens.revoke(root, info.id);
    ack(`token-revoked ${info.id} ${token}`);
    const consent = await runtime.consent.grant(root, {
      bailee: subject,
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
    ack(`consent ${consent.id}`);
    await runtime.consent.revoke(root, consent.id);
    ack(`consent-revoked ${consent.id}`);
    // A Mentor enrols its own witness key (before genesis, so it is a genesis candidate).
    const mentor = await runtime.tokens.authenticate(
      (
        await runtime.tokens.create(root, {
          subject: `did:sigil:witness-${i}`,
          loa: 'mentor',
          signer: { type: 'human' },
        })
      ).token,
    );
    const keys = generateKeyPair();
    const publicKey = toBase64Url(publicKeyToRaw(keys.publicKey));
    const challenge = await runtime.quorum.enrolmentChallenge(mentor);
    const witness = await runtime.quorum.enrol(mentor, {
      challenge_id: challenge.id,
      public_key: publicKey,
      proof: signEnrolment(challenge, publicKey, keys.privateKey),
    });
    ack(`witness ${witness.witness_id}`);
    const approval = await runtime.approvals.request(root, {
      decision_id: 'crash',
      action: 'mcp.tools.call',
      target: `crash/${i}`,
      tool: 'crash__tool',
      arguments: { i },
      summary: 'crash test',
    });
    ack(`approval ${approval.id}`);
    // The Mentor just enrolled signs the verdict with its witness key.
    const [pending] = (await runtime.approvals.list(mentor)).filter((a) => a.id === approval.id);
    await runtime.approvals.decide(mentor, approval.id, {
      verdict: 'approved',
      signature: signApproval(
        { approval_id: approval.id, tool: pending!.tool, arguments_hash: pending!.arguments_hash },
        'approved',
        { type: 'human' },
        keys.privateKey,
      ),
    });
    ack(`approval-approved ${approval.id}`);
  }
}

await Promise.all(Array.from({ length: Number(loops) }, writeForever));
