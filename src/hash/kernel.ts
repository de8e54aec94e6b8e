import { readFileSync } from 'node:fs';

/**
 * The WebAssembly SIMD128 Scrypt kernel (native/scrypt-simd/scrypt.c, built by native/scrypt-simd/build.sh
 * into scrypt-simd.wasm next to this file). Litecoin's parameters only: scrypt(header, header, N=1024, r=1,
 * p=1, dkLen=32) of 80-byte headers, interleaved: 8 at a time, a last group of 4 or fewer 4 at a time. Synchronous: run it on a worker
 * thread (see SimdPool), never on the event loop of a busy pool.
 */
export const KERNEL_WASM_URL = new URL('./scrypt-simd.wasm', import.meta.url);

interface KernelExports {
  memory: WebAssembly.Memory;
  in_ptr(): number;
  out_ptr(): number;
  max_batch(): number;
  lanes(): number;
  wide_lanes(): number;
  scrypt_batch(count: number): number;
}

let compiled: WebAssembly.Module | undefined;

/** The compiled module (compiled once per thread; a Module can also be posted to workers). */
export function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(KERNEL_WASM_URL));
  return compiled;
}

/** True when this engine validates the kernel (i.e. it has WebAssembly with SIMD128 and bulk memory). */
export function simdSupported(): boolean {
  try {
    if (typeof WebAssembly !== 'object') return false;
    return WebAssembly.validate(readFileSync(KERNEL_WASM_URL));
  } catch {
    return false;
  }
}

export class ScryptKernel {
  /** Headers the kernel takes per call. */
  readonly maxBatch: number;
  /** The narrow group: a batch's last group is padded up to a multiple of this. */
  readonly lanes: number;
  /** Headers hashed together while more than `lanes` remain. */
  readonly wideLanes: number;
  private readonly exports: KernelExports;

  constructor(module: WebAssembly.Module = kernelModule()) {
    const instance = new WebAssembly.Instance(module, {});
    this.exports = instance.exports as unknown as KernelExports;
    this.maxBatch = this.exports.max_batch();
    this.lanes = this.exports.lanes();
    this.wideLanes = this.exports.wide_lanes();
  }

  /**
   * Hashes `count` consecutive 80-byte headers of `input` (from byte `inOffset`) into `count` consecutive
   * 32-byte results of `output` (from byte `outOffset`). Any count; large ones are cut into maxBatch calls.
   */
  hashInto(input: Uint8Array, inOffset: number, count: number, output: Uint8Array, outOffset: number): void {
    const e = this.exports;
    for (let done = 0; done < count; ) {
      const n = Math.min(this.maxBatch, count - done);
      // The memory can never grow (the module fixes its size), so one view stays valid; made per call anyway.
      const mem = new Uint8Array(e.memory.buffer);
      const inPtr = e.in_ptr();
      const outPtr = e.out_ptr();
      mem.set(input.subarray(inOffset + 80 * done, inOffset + 80 * (done + n)), inPtr);
      e.scrypt_batch(n);
      output.set(mem.subarray(outPtr, outPtr + 32 * n), outOffset + 32 * done);
      done += n;
    }
  }

  /** Convenience form: one 32-byte result per 80-byte header. */
  hash(headers: readonly Uint8Array[]): Buffer[] {
    const input = Buffer.allocUnsafe(80 * headers.length);
    headers.forEach((h, i) => {
      if (h.length !== 80) throw new Error(`scrypt kernel: header ${i} is ${h.length} bytes, not 80`);
      input.set(h, 80 * i);
    });
    const output = Buffer.allocUnsafe(32 * headers.length);
    this.hashInto(input, 0, headers.length, output, 0);
    return headers.map((_, i) => output.subarray(32 * i, 32 * i + 32));
  }
}
