/**
 * The CLI's input as lines: standard input, files read to their end, or files followed as
 * `tail -F` follows them. Reading stops at an abort signal, and every line read before it (a
 * partial last line included) is still yielded, so a stopped run delivers all it took in.
 */
import { createReadStream, type Stats } from 'node:fs';
import { open as openFile, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a followed file is checked for growth, rotation and truncation, in ms. */
export const FOLLOW_POLL_INTERVAL = 200;
const READ_SIZE = 64 * 1024;

/** Splits UTF-8 bytes into lines (without `\n` or `\r\n`), keeping a partial line for the next chunk. */
class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  /** The complete lines in `chunk` and what came before it; blank lines are skipped. */
  *push(chunk: Buffer): Generator<string> {
    const text = this.#partial + this.#decoder.write(chunk);
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      if (line !== '') yield line;
      start = end + 1;
    }
    this.#partial = text.slice(start);
  }

  /** The partial last line, if any (the input ended, or will not be read further). */
  *end(): Generator<string> {
    const line = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (line !== '') yield line;
  }
}

/** A stream's chunks until it ends or `signal` aborts (a chunk still pending then is not taken). */
async function* chunksUntil(stream: Readable, signal: AbortSignal): AsyncGenerator<Buffer> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted' || next.done === true) return;
      yield next.value;
    }
  } finally {
    stream.destroy();
  }
}

async function* linesOfStream(stream: Readable, signal: AbortSignal): AsyncGenerator<string> {
  const splitter = new LineSplitter();
  for await (const chunk of chunksUntil(stream, signal)) yield* splitter.push(chunk);
  yield* splitter.end();
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/**
 * Lines of a file as it grows, like `tail -F` from the file's start: when the path comes to name
 * another file (rotation), the old one is read to its end first; when the file shrinks below what
 * was read (truncation), reading starts again at its beginning; a missing file is waited for.
 * Polling rather than fs.watch: it sees all three on every file system, network ones included.
 */
async function* followFile(path: string, signal: AbortSignal, warn: (message: string) => void): AsyncGenerator<string> {
  const splitter = new LineSplitter();
  const buffer = Buffer.alloc(READ_SIZE);
  let handle: FileHandle | undefined;
  let inode = 0;
  let position = 0;
  try {
    while (!signal.aborted) {
      if (handle === undefined) {
        try {
          handle = await openFile(path, 'r');
        } catch {
          await sleep(FOLLOW_POLL_INTERVAL, undefined, { signal }).catch(() => undefined);
          continue;
        }
        inode = (await handle.stat()).ino;
        position = 0;
      }
      const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield* splitter.push(buffer.subarray(0, bytesRead));
        continue;
      }
      const current = await statOrUndefined(path);
      if (current === undefined || current.ino !== inode) {
        // Rotated or removed: drain what was appended to the old file after the read above, then move on.
        for (let drained; (drained = await handle.read(buffer, 0, READ_SIZE, position)).bytesRead > 0; ) {
          position += drained.bytesRead;
          yield* splitter.push(buffer.subarray(0, drained.bytesRead));
        }
        yield* splitter.end();
        await handle.close();
        handle = undefined;
        warn(`${path}: ${current === undefined ? 'removed; waiting for it to come back' : 'rotated; following the new file'}`);
        continue;
      }
      if (current.size < position) {
        yield* splitter.end();
        position = 0;
        warn(`${path}: truncated; reading from its start`);
        continue;
      }
      await sleep(FOLLOW_POLL_INTERVAL, undefined, { signal }).catch(() => undefined);
    }
    yield* splitter.end();
  } finally {
    await handle?.close();
  }
}

/** Yields from every source as lines come, until all have ended. */
async function* merge(sources: AsyncGenerator<string>[]): AsyncGenerator<string> {
  const pending = new Map(sources.map((source) => [source, source.next().then((result) => ({ source, result }))]));
  while (pending.size > 0) {
    const { source, result } = await Promise.race(pending.values());
    if (result.done === true) {
      pending.delete(source);
      continue;
    }
    pending.set(source, source.next().then((next) => ({ source, result: next })));
    yield result.value;
  }
}

/** The lines of `files` (standard input when none, or for `-`), one file after another, or all at once when followed. */
export function readLines(
  files: readonly string[],
  options: { follow: boolean; signal: AbortSignal; stdin: Readable; warn: (message: string) => void },
): AsyncGenerator<string> {
  const { follow, signal, stdin, warn } = options;
  // Opened only when reached, so that a missing file fails when its turn comes, as `cat` does.
  const lines = (file: string): AsyncGenerator<string> =>
    file === '-' ? linesOfStream(stdin, signal) : follow ? followFile(file, signal, warn) : linesOfStream(createReadStream(file), signal);
  const names = files.length === 0 ? ['-'] : files;
  if (follow) return merge(names.map(lines));
  return (async function* () {
    for (const file of names) yield* lines(file);
  })();
}
