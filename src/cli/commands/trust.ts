/** `sigil trust check|status|fit`: run a decision, read the counters, fit the trust model. */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import type { JsonValue } from '../../core/canonical.ts';
import { SigilError } from '../../core/errors.ts';
import {
  fitTrustModel,
  FEATURES,
  parseLabelledNdjson,
  parseTrustModel,
} from '../../policy/index.ts';
import type { FrozenDecision } from '../../runtime/index.ts';
import { withLogOptions } from '../context.ts';
import { wireFitResult, wireTrustStatus } from '../../runtime/wire.ts';
import { EXIT, printResult, type GlobalOptions } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface CheckOptions extends CallerOptions {
  action: string;
  target: string;
  payload?: string;
}

interface FitOptions extends GlobalOptions {
  input?: string;
  file?: string;
  output?: string;
}

function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new SigilError('bad_request', `cannot read ${file}: ${(err as Error).message}`);
  }
}

function readJson(file: string): JsonValue {
  try {
    return JSON.parse(readText(file)) as JsonValue;
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('bad_request', `${file} is not valid JSON`);
  }
}

const num = (n: number, digits = 3): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

/** The decision as a reader wants it: verdict, score, each feature's share, each step. */
function decisionText(d: FrozenDecision): string {
  const lines = [
    d.verdict === 'allow'
      ? `verdict:  allow${d.would_deny ? ' (passive mode: the threshold would deny)' : ''}`
      : `verdict:  deny: ${d.code}: ${d.reason}`,
    `mode:     ${d.mode} (threshold ${d.threshold}, effective LOA ${d.effective_loa})`,
  ];
  if (d.trust !== null) {
    lines.push(`trust:    ${num(d.trust.score)} (logit ${num(d.trust.logit)})`);
    lines.push('  feature          value   weight  contribution');
    for (const f of FEATURES) {
      const c = d.trust.contributions[f];
      lines.push(
        `  ${f.padEnd(15)} ${num(c.value).padStart(6)} ${num(c.weight).padStart(8)} ` +
          `${num(c.contribution).padStart(13)}`,
      );
    }
  }
  for (const v of d.violations) {
    lines.push(`violated: ${v.invariant}: ${v.description}`);
    for (const e of v.evidence) lines.push(`  ${e}`);
  }
  if (d.requires_quorum)
    lines.push('quorum:   required (a system change takes effect only when committed)');
  lines.push('steps:');
  for (const s of d.steps) lines.push(`  ${s.step.padEnd(13)} ${s.verdict.padEnd(5)} ${s.reason}`);
  lines.push(`decision: ${d.decision_id} (seq ${d.seq})`);
  return lines.join('\n');
}

function registerCheck(trust: Command): void {
  withTokenOption(
    withLogOptions(
      trust
        .command('check')
        .description('decide a request and seal the decision into the log (exit 1 when denied)')
        .requiredOption('--action <action>', 'dotted action name, e.g. canon.read')
        .requiredOption('--target <target>', 'what the action touches, e.g. canon/user/42')
        .option('--payload <file>', 'JSON payload of the request (- for stdin)'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  sigil trust check --action canon.read --target canon/user/42\n' +
        '  sigil trust check --action canon.user.write --target canon/user/new \\\n' +
        '    --payload note.json --token "$SIGIL_TOKEN" --json',
    )
    .action(async (opts: CheckOptions) => {
      const payload = opts.payload === undefined ? undefined : readJson(opts.payload);
      const decision = await withRuntime(opts, async (runtime) =>
        runtime.check(await callerFor(runtime, opts), {
          action: opts.action,
          target: opts.target,
          ...(payload !== undefined && { payload }),
        }),
      );
      printResult(opts, decisionText(decision), decision);
      if (decision.verdict === 'deny') process.exitCode = EXIT.failed;
    });
}

function registerStatus(trust: Command): void {
  withTokenOption(
    withLogOptions(
      trust
        .command('status')
        .description(
          'decision counts by verdict and mode, threshold, log size, breaker (Observer+)',
        )
        .addHelpText('after', '\nExample:\n  sigil trust status --json'),
    ),
  ).action(async (opts: CallerOptions) => {
    const status = await withRuntime(opts, async (runtime) =>
      runtime.trustStatus(await callerFor(runtime, opts)),
    );
    printResult(
      opts,
      [
        `mode:      ${status.mode} (threshold ${status.threshold})`,
        `model:     ${status.model}`,
        `log size:  ${status.log_size}`,
        `breaker:   ${status.breaker.open ? 'open' : 'closed'}`,
        `runtime:   ${status.runtime.loa} (${status.runtime.reason})`,
      ].join('\n'),
      wireTrustStatus(status),
    );
  });
}

function registerFit(trust: Command): void {
  trust
    .command('fit')
    .description(
      "fit the trust model's weights to labelled decisions (logistic regression; offline) " +
        'and report accuracy on a held-out split',
    )
    .option('--input <file>', 'labelled NDJSON: {action, target, loa, payload?, label} per line')
    .option('--file <file>', 'alias for --input')
    .option('--output <file>', 'write the fitted model as JSON (a model_config payload)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  sigil trust fit --input examples/labelled-decisions.ndjson --output model.json\n' +
        '\nEvery 5th example is held out. Risk weights stay ≤ 0 and the LOA weight ≥ 0.',
    )
    .action((opts: FitOptions) => {
      const input = opts.input ?? opts.file;
      if (input === undefined) throw new SigilError('bad_request', 'give --input <file>');
      const fit = fitTrustModel(parseLabelledNdjson(readText(input)));
      const model = {
        version: `fit-${new Date().toISOString()}`,
        bias: fit.bias,
        weights: fit.weights,
        threshold: fit.threshold,
      };
      parseTrustModel(model);
      if (opts.output !== undefined) {
        try {
          writeFileSync(opts.output, `${JSON.stringify(model, null, 2)}\n`);
        } catch (err) {
          throw new SigilError(
            'bad_request',
            `cannot write ${opts.output}: ${(err as Error).message}`,
          );
        }
      }
      const lines = [
        `fitted on ${fit.nTrain} examples, ${fit.nHeldOut} held out (of ${fit.n})`,
        `bias: ${num(fit.bias, 4)}`,
        ...FEATURES.map((f) => `  ${f.padEnd(15)} ${num(fit.weights[f], 4).padStart(8)}`),
        `accuracy at threshold ${fit.threshold}: train ${num(fit.trainAccuracy)}, ` +
          `held out ${num(fit.heldOutAccuracy)}`,
        ...(opts.output === undefined ? [] : [`model written to ${opts.output}`]),
      ];
      printResult(opts, lines.join('\n'), {
        ...wireFitResult(fit),
        model,
        output: opts.output ?? null,
      });
    });
}

export function registerTrust(program: Command): void {
  const trust = program
    .command('trust')
    .description('run trust decisions, read trust status, fit the trust model');
  registerCheck(trust);
  registerStatus(trust);
  registerFit(trust);
}
