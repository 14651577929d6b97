/**
 * `sigil export [--follow] --format jsonl|syslog [--to FILE|-]`: sealed records for a SIEM. Each
 * record is its public envelope, with its body only where the export's credential may read it
 * (read-access.ts). Delivery is at least once: a cursor file (0600) holds the last seq delivered,
 * written after the lines are flushed, so a restart resumes after it; the record id in every line
 * is the de-duplication key. Into a file the delivery is exactly once: at start the file's last
 * whole line says what it already holds, and a line cut off by a crash is dropped and re-sent.
 */
import type { Command } from 'commander';
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SigilError } from '../../core/errors.ts';
import type { RecordView } from '../../runtime/read-access.ts';
import { dataDirOf, intOption, withLogOptions } from '../context.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface ExportOptions extends CallerOptions {
  follow?: boolean;
  format: string;
  to: string;
  cursor?: string;
  limit?: string;
  interval?: string;
}

const FORMATS = ['jsonl', 'syslog'] as const;
type Format = (typeof FORMATS)[number];

/**
 * RFC 5424: facility 13 (log audit), severity 6 (informational). The SD-ID carries the IANA
 * enterprise number RFC 5612 reserves for documentation, as Sigil has none of its own.
 */
const SYSLOG_PRI = 13 * 8 + 6;
const SD_ID = 'sigil@32473';
/** How much of the target's end is read to find its last whole line (a line is one record). */
const TAIL_BYTES = 4 * 1024 * 1024;

/** An RFC 5424 PARAM-VALUE: '"', '\' and ']' escaped. */
function sdValue(text: string): string {
  return text.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** RFC 5424 HOSTNAME: printable US-ASCII, at most 255, else the nil value. */
function syslogHost(): string {
  const name = hostname();
  return /^[\x21-\x7e]{1,255}$/.test(name) ? name : '-';
}

/** One record as one line (without the newline). */
function lineOf(format: Format, view: RecordView, host: string): string {
  const body = JSON.stringify(view);
  if (format === 'jsonl') return body;
  const sd =
    `[${SD_ID} seq="${view.seq}" id="${sdValue(view.id)}" hash="${sdValue(view.hash)}"` +
    ` body="${'payload' in view ? 'yes' : 'no'}"]`;
  return `<${SYSLOG_PRI}>1 ${view.ts} ${host} sigil ${process.pid} ${view.kind} ${sd} ${body}`;
}

/** The seq a line of ours names; undefined when it is not one. */
function seqOfLine(format: Format, line: string): number | undefined {
  if (format === 'syslog') {
    const m = /^<\d+>1 \S+ \S+ sigil \S+ \S+ \[sigil@32473 seq="(\d+)"/.exec(line);
    return m ? Number(m[1]) : undefined;
  }
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : undefined;
  } catch {
    return undefined;
  }
}

/** Wraps a file-system failure as the one-line CLI error. */
function fileError(what: string, file: string, err: unknown): SigilError {
  return new SigilError('bad_request', `cannot ${what} ${file}: ${(err as Error).message}`);
}

/** The cursor file: the last seq delivered, written whole (temp file + rename), mode 0600. */
class Cursor {
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  read(): number | undefined {
    if (!existsSync(this.#file)) return undefined;
    let text: string;
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch (err) {
      throw fileError('read the cursor file', this.#file, err);
    }
    const seq = (safeJson(text) as { seq?: unknown } | undefined)?.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      throw new SigilError('bad_request', `the cursor file ${this.#file} is not one sigil wrote`);
    }
    return seq;
  }

  write(seq: number, id: string): void {
    const tmp = join(dirname(this.#file), `.${process.pid}.cursor.tmp`);
    try {
      writeFileSync(tmp, `${JSON.stringify({ seq, id })}\n`, { mode: 0o600 });
      renameSync(tmp, this.#file);
    } catch (err) {
      throw fileError('write the cursor file', this.#file, err);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Where lines go: a file opened for appending (fsync per batch) or stdout. */
interface Sink {
  /** The seq of the last whole line the target already holds (files only). */
  held: number | undefined;
  write: (text: string) => Promise<void>;
  close: () => void;
}

/**
 * Opens the target file (0600), drops a trailing part line (a write cut off by a crash) and
 * reads the seq of its last whole line, so a restart neither repeats nor skips a record.
 */
function fileSink(file: string, format: Format): Sink {
  let fd: number;
  try {
    fd = openSync(file, 'a+', 0o600);
  } catch (err) {
    throw fileError('write to', file, err);
  }
  const size = fstatSync(fd).size;
  const start = Math.max(0, size - TAIL_BYTES);
  const buf = Buffer.alloc(size - start);
  readSync(fd, buf, 0, buf.length, start);
  const end = buf.lastIndexOf(0x0a);
  let held: number | undefined;
  if (end + 1 < buf.length) ftruncateSync(fd, start + end + 1);
  if (end >= 0) {
    const from = buf.lastIndexOf(0x0a, end - 1) + 1;
    held = seqOfLine(format, buf.subarray(from, end).toString('utf8'));
    if (held === undefined) {
      closeSync(fd);
      throw new SigilError('bad_request', `${file} does not end with a ${format} export line`);
    }
  } else if (start > 0) {
    closeSync(fd);
    throw new SigilError('bad_request', `${file} does not end with a ${format} export line`);
  }
  return {
    held,
    write: (text) => {
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } catch (err) {
        throw fileError('write to', file, err);
      }
      return Promise.resolve();
    },
    close: () => closeSync(fd),
  };
}

function stdoutSink(): Sink {
  return {
    held: undefined,
    write: (text) =>
      new Promise((done, fail) => {
        process.stdout.write(text, (err) => (err ? fail(err) : done()));
      }),
    close: () => undefined,
  };
}

export function registerExport(program: Command): void {
  withTokenOption(
    withLogOptions(
      program
        .command('export')
        .description(
          'stream sealed records for a SIEM: envelopes, bodies where the credential may read them',
        )
        .option('--follow', 'keep running and export records as they are sealed')
        .option('--format <format>', 'jsonl or syslog (RFC 5424 lines)', 'jsonl')
        .option('--to <file>', 'file to append to (0600), or - for stdout', '-')
        .option(
          '--cursor <file>',
          'cursor file, the last seq delivered (default: <file>.cursor, or export.cursor in the data dir for stdout)',
        )
        .option('--limit <n>', 'records per batch (1..1000, default 500)')
        .option(
          '--interval <ms>',
          'with --follow, how often to look for new records (default 1000)',
        )
        .addHelpText(
          'after',
          '\nDelivery is at least once: de-duplicate on the record id. Into a file it is exactly once.\n' +
            'Examples:\n' +
            '  sigil export --format jsonl --to audit.jsonl\n' +
            '  sigil export --follow --format syslog --token "$SIEM_TOKEN" | logger --rfc5424 ...',
        ),
    ),
  ).action(async (opts: ExportOptions) => {
    if (!(FORMATS as readonly string[]).includes(opts.format)) {
      throw new SigilError('bad_request', `unknown format ${opts.format} (jsonl or syslog)`);
    }
    const format = opts.format as Format;
    const limit = intOption(opts.limit, '--limit') ?? 500;
    if (limit < 1 || limit > 1000) throw new SigilError('bad_request', '--limit must be 1..1000');
    const interval = intOption(opts.interval, '--interval') ?? 1000;
    const toStdout = opts.to === '-';
    const cursor = new Cursor(
      resolve(
        opts.cursor ?? (toStdout ? join(dataDirOf(opts), 'export.cursor') : `${opts.to}.cursor`),
      ),
    );
    const saved = cursor.read();
    const sink = toStdout ? stdoutSink() : fileSink(resolve(opts.to), format);
    let stopping = false;
    let wake: (() => void) | undefined;
    const stop = (): void => {
      stopping = true;
      wake?.();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      await withRuntime(opts, async (runtime) => {
        const exporter = await runtime.records.openExport(await callerFor(runtime, opts));
        const host = syslogHost();
        // Into a file, what the file holds wins: its cursor may lag by the batch written last.
        let after = sink.held === undefined ? saved : Math.max(sink.held, saved ?? -1);
        while (!stopping) {
          const views = await exporter.page(await callerFor(runtime, opts), after, limit);
          if (views.length > 0) {
            await sink.write(views.map((v) => `${lineOf(format, v, host)}\n`).join(''));
            const last = views[views.length - 1]!;
            cursor.write(last.seq, last.id);
            after = last.seq;
          }
          if (views.length === limit) continue;
          if (!opts.follow) break;
          await new Promise<void>((done) => {
            const timer = setTimeout(done, interval);
            wake = () => {
              clearTimeout(timer);
              done();
            };
          });
        }
      });
    } finally {
      process.removeListener('SIGTERM', stop);
      process.removeListener('SIGINT', stop);
      sink.close();
    }
  });
}
