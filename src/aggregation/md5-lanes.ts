/**
 * The MD5 trailers of several envelopes at once: four messages a pass, one in each 32-bit lane of
 * a WebAssembly SIMD vector.
 *
 * MD5 is one long chain of dependent steps, so a single message cannot go faster than OpenSSL's
 * ~650 MB/s, and at 10 KiB records the trailers were a fifth of the producer's CPU. Four messages
 * side by side run the same steps on four lanes for little more than the cost of one: ~1.4 GB/s
 * for the four on this project's benchmark machine, the copy into the module's memory included.
 *
 * The module is a few KB, emitted by md5x4-module.ts (no build step, no binary in the repository;
 * emitting it takes ~4 ms) and compiled off the event loop once the process has hashed
 * {@link COMPILE_AFTER_BYTES}: a producer that sends little (a Lambda function's few records)
 * never pays for it. Until it is ready, and for good without WebAssembly SIMD (a runtime that
 * lacks it, `--jitless`), envelopes are sealed by `node:crypto`, as a lone envelope always is.
 */
import { sealEnvelope } from './encode.js';
import { MAGIC_LENGTH, MD5_LENGTH } from './format.js';
import { LANES, MD5_BLOCK, md5x4Module } from './md5x4-module.js';

/** Bytes of envelopes hashed by `node:crypto` before the module is emitted and compiled. */
const COMPILE_AFTER_BYTES = 4 * 1024 * 1024;
/** The module's memory: the four lanes' state (words a, b, c, d, each a vector of 4 lanes), then each lane's message. */
const STATE_BYTES = 64;
/** WebAssembly's unit of memory. */
const PAGE = 65_536;
/** MD5's initial words a, b, c, d. */
const INITIAL_STATE = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];


/**
 * Writes the MD5 trailer of every envelope of `envelopes` (complete but for it, as
 * `writeEnvelope` leaves them), four at a time where it can.
 * @internal
 */
export function sealEnvelopes(envelopes: readonly Uint8Array[]): void {
  if (envelopes.length === 1 || lanes === undefined) {
    for (const envelope of envelopes) {
      sealEnvelope(envelope);
      hashedWithoutLanes += envelope.length;
    }
    if (hashedWithoutLanes >= COMPILE_AFTER_BYTES) void compileMd5Lanes();
    return;
  }
  // Lanes run until the longest message of the pass is done: messages of like length go together.
  const sorted = envelopes.slice().sort((x, y) => x.length - y.length);
  for (let i = 0; i < sorted.length; i += LANES) {
    const group = sorted.slice(i, i + LANES);
    if (group.length === 1) sealEnvelope(group[0]!);
    else lanes.seal(group);
  }
}

/** What is used here of the WebAssembly API (TypeScript declares it with the DOM's types, which this project leaves out). */
interface WebAssemblyApi {
  instantiate(bytes: Uint8Array): Promise<{ readonly instance: { readonly exports: object } }>;
}

interface WebAssemblyMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The module's `md5x4(state, p0, p1, p2, p3, blocks)`: runs `blocks` blocks of each lane's message from its pointer. */
type Md5x4 = (state: number, p0: number, p1: number, p2: number, p3: number, blocks: number) => void;

/** The compiled module, once ready. */
let lanes: Md5Lanes | undefined;
/** Bytes `node:crypto` has hashed: past {@link COMPILE_AFTER_BYTES}, the module is worth compiling. */
let hashedWithoutLanes = 0;
let compiling: Promise<boolean> | undefined;

/**
 * Emits and compiles the module, once, the compiling off the event loop (done synchronously it
 * held the loop for 5–15 ms).
 * Resolves with whether it is in use: false where WebAssembly SIMD is missing or the module is
 * refused, and `node:crypto` seals every envelope.
 * @internal
 */
export function compileMd5Lanes(): Promise<boolean> {
  compiling ??= instantiate().then((instance) => {
    lanes = instance;
    return instance !== undefined;
  });
  return compiling;
}

/** Whether envelopes now go through the lanes. @internal */
export function md5LanesInUse(): boolean {
  return lanes !== undefined;
}

async function instantiate(): Promise<Md5Lanes | undefined> {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (wasm === undefined) return undefined;
  try {
    const { instance } = await wasm.instantiate(md5x4Module());
    const { memory, md5x4 } = instance.exports as { memory: WebAssemblyMemory; md5x4: Md5x4 };
    return new Md5Lanes(memory, md5x4);
  } catch {
    // No SIMD in this runtime (the module does not validate): node:crypto does the work.
    return undefined;
  }
}

class Md5Lanes {
  readonly #memory: WebAssemblyMemory;
  readonly #md5x4: Md5x4;
  /** Bytes each lane has room for: a message padded to whole blocks. */
  #laneBytes = 0;
  #bytes = new Uint8Array(0);
  #view = new DataView(new ArrayBuffer(0));

  constructor(memory: WebAssemblyMemory, md5x4: Md5x4) {
    this.#memory = memory;
    this.#md5x4 = md5x4;
    this.#fit(0);
  }

  /** Seals 2 to 4 envelopes in one pass of the lanes. */
  seal(envelopes: readonly Uint8Array[]): void {
    let longest = 0;
    for (const envelope of envelopes) longest = Math.max(longest, envelope.length);
    this.#fit(paddedLength(longest));
    const blocks = envelopes.map((envelope, lane) => this.#load(lane, envelope.subarray(MAGIC_LENGTH, envelope.length - MD5_LENGTH)));
    const view = this.#view;
    for (let word = 0; word < 4; word++) {
      for (let lane = 0; lane < LANES; lane++) view.setUint32(word * 16 + lane * 4, INITIAL_STATE[word]!, true);
    }
    // Every lane runs each pass; a lane whose message is done reads another lane's blocks and its
    // state is no longer looked at.
    let done = 0;
    let left = envelopes.length;
    while (left > 0) {
      let n = Infinity;
      let live = 0;
      for (let lane = 0; lane < envelopes.length; lane++) {
        if (blocks[lane]! > done) {
          n = Math.min(n, blocks[lane]! - done);
          live = lane;
        }
      }
      const at = (lane: number): number => this.#laneStart(lane < envelopes.length && blocks[lane]! > done ? lane : live) + done * MD5_BLOCK;
      this.#md5x4(0, at(0), at(1), at(2), at(3), n);
      done += n;
      for (let lane = 0; lane < envelopes.length; lane++) {
        if (blocks[lane] !== done) continue;
        const envelope = envelopes[lane]!;
        const trailer = envelope.length - MD5_LENGTH;
        for (let word = 0; word < 4; word++) envelope.set(this.#bytes.subarray(word * 16 + lane * 4, word * 16 + lane * 4 + 4), trailer + word * 4);
        left--;
      }
    }
  }

  #laneStart(lane: number): number {
    return STATE_BYTES + lane * this.#laneBytes;
  }

  /** Copies `message` into its lane with MD5's padding; returns its length in blocks. */
  #load(lane: number, message: Uint8Array): number {
    const start = this.#laneStart(lane);
    const length = paddedLength(message.length);
    const bytes = this.#bytes;
    bytes.set(message, start);
    bytes[start + message.length] = 0x80;
    bytes.fill(0, start + message.length + 1, start + length - 8);
    // The message's length in bits, 64 bits little-endian: envelopes are under 2^29 bytes.
    this.#view.setUint32(start + length - 8, message.length * 8, true);
    this.#view.setUint32(start + length - 4, 0, true);
    return length / MD5_BLOCK;
  }

  /** Grows the memory so that each lane holds `laneBytes`. */
  #fit(laneBytes: number): void {
    if (laneBytes <= this.#laneBytes && this.#bytes.length > 0) return;
    const needed = STATE_BYTES + LANES * laneBytes;
    const buffer = this.#memory.buffer;
    if (needed > buffer.byteLength) this.#memory.grow(Math.ceil((needed - buffer.byteLength) / PAGE));
    this.#laneBytes = Math.max(this.#laneBytes, laneBytes);
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#view = new DataView(this.#memory.buffer);
  }
}

/** A message's length with MD5's padding: a 0x80 byte, zeros, the 8-byte length, to whole blocks. */
function paddedLength(length: number): number {
  return Math.ceil((length + 9) / MD5_BLOCK) * MD5_BLOCK;
}
