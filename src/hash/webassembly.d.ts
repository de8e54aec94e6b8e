// The part of the WebAssembly JavaScript API the Scrypt kernel uses. Node has it all, but with lib ES2022 and
// @types/node 20 TypeScript declares none of it (it lives in lib.dom).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, unknown>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
}
