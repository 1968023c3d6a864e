/**
 * The WebAssembly module behind src/aggregation/md5-lanes.ts, emitted as bytes: one memory and one
 * function, `md5x4(state, p0, p1, p2, p3, blocks)`, which runs `blocks` 64-byte blocks of four
 * messages through MD5 side by side, message `i` read from `p<i>` and the four states (words a, b,
 * c, d, each a vector of the four lanes' values) kept at `state`. Emitting the bytes here rather
 * than shipping a binary leaves nothing to build and nothing opaque in the package.
 */

/** Messages hashed side by side: the 32-bit lanes of a 128-bit vector. @internal */
export const LANES = 4;
/** MD5's block, in bytes. @internal */
export const MD5_BLOCK = 64;

/** The MD5 constants: floor(|sin(i + 1)| × 2^32), per RFC 1321. */
const K = [
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
/** Left rotations, per round and step within the round. */
const ROTATIONS = [
  [7, 12, 17, 22],
  [5, 9, 14, 20],
  [4, 11, 16, 23],
  [6, 10, 15, 21],
];

/** Local variable indexes of md5x4: its six i32 parameters, then v128 locals. */
const P_STATE = 0;
const P_LANE = 1; // p0..p3 are 1..4
const P_BLOCKS = 5;
const A = 6;
const SAVED = 10; // aa, bb, cc, dd are 10..13
const T = 14;
const M = 15; // m0..m15 are 15..30
const V128_LOCALS = 25;

const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  simd: 0xfd,
  void: 0x40,
};
const simd = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  not: 0x4d,
  or: 0x50,
  xor: 0x51,
  bitselect: 0x52,
  load32Lane: 0x56,
  shl: 0xab,
  shrU: 0xad,
  add: 0xae,
};

/** The whole module: one memory and `md5x4`, both exported. @internal */
export function md5x4Module(): Uint8Array {
  const i32 = 0x7f;
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const name = (text: string): number[] => [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];
  const body = [1, ...uleb(V128_LOCALS), 0x7b, ...md5x4Body(), op.end];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 6, i32, i32, i32, i32, i32, i32, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [2, ...name('md5x4'), 0x00, 0, ...name('memory'), 0x02, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

function md5x4Body(): number[] {
  const code: number[] = [];
  const get = (local: number): void => void code.push(op.localGet, local);
  const set = (local: number): void => void code.push(op.localSet, local);
  const vector = (opcode: number, ...immediates: number[]): void => void code.push(op.simd, ...uleb(opcode), ...immediates);
  const i32Const = (value: number): void => void code.push(op.i32Const, ...sleb(value));
  const splat = (value: number): void => {
    const word = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
    vector(simd.const, ...word, ...word, ...word, ...word);
  };

  for (let word = 0; word < 4; word++) {
    get(P_STATE);
    vector(simd.load, 4, ...uleb(word * 16));
    set(A + word);
  }
  code.push(op.block, op.void, op.loop, op.void);
  get(P_BLOCKS);
  code.push(op.i32Eqz, op.brIf, 1);
  // The block's 16 words, each lane's from its own message.
  for (let k = 0; k < 16; k++) {
    for (let lane = LANES - 1; lane >= 0; lane--) get(P_LANE + lane);
    splat(0);
    for (let lane = 0; lane < LANES; lane++) vector(simd.load32Lane, 2, ...uleb(4 * k), lane);
    set(M + k);
  }
  for (let word = 0; word < 4; word++) {
    get(A + word);
    set(SAVED + word);
  }
  // a, b, c, d rotate through the four locals from step to step.
  let [a, b, c, d] = [A, A + 1, A + 2, A + 3];
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    const g = round === 0 ? i : round === 1 ? (5 * i + 1) % 16 : round === 2 ? (3 * i + 5) % 16 : (7 * i) % 16;
    const rotation = ROTATIONS[round]![i & 3]!;
    get(a);
    if (round === 0) {
      // (b & c) | (~b & d)
      get(c);
      get(d);
      get(b);
      vector(simd.bitselect);
    } else if (round === 1) {
      // (d & b) | (~d & c)
      get(b);
      get(c);
      get(d);
      vector(simd.bitselect);
    } else if (round === 2) {
      // b ^ c ^ d
      get(b);
      get(c);
      vector(simd.xor);
      get(d);
      vector(simd.xor);
    } else {
      // c ^ (b | ~d)
      get(c);
      get(b);
      get(d);
      vector(simd.not);
      vector(simd.or);
      vector(simd.xor);
    }
    vector(simd.add);
    get(M + g);
    splat(K[i]!);
    vector(simd.add);
    vector(simd.add);
    set(T);
    get(b);
    get(T);
    i32Const(rotation);
    vector(simd.shl);
    get(T);
    i32Const(32 - rotation);
    vector(simd.shrU);
    vector(simd.or);
    vector(simd.add);
    set(a);
    [a, b, c, d] = [d, a, b, c];
  }
  for (let word = 0; word < 4; word++) {
    get(A + word);
    get(SAVED + word);
    vector(simd.add);
    set(A + word);
  }
  for (let lane = 0; lane < LANES; lane++) {
    get(P_LANE + lane);
    i32Const(MD5_BLOCK);
    code.push(op.i32Add);
    set(P_LANE + lane);
  }
  get(P_BLOCKS);
  i32Const(1);
  code.push(op.i32Sub);
  set(P_BLOCKS);
  code.push(op.br, 0, op.end, op.end);
  for (let word = 0; word < 4; word++) {
    get(P_STATE);
    get(A + word);
    vector(simd.store, 4, ...uleb(word * 16));
  }
  return code;
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}
