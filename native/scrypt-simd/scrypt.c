/*
 * Litecoin's scrypt (N=1024, r=1, p=1, 80-byte header as password and salt, 32-byte result) for
 * WebAssembly SIMD128, WIDE (8) or NARROW (4) independent headers interleaved per group so the CPU has independent
 * dependency chains to overlap. Freestanding: no libc, no imports; the JavaScript side writes headers
 * into in_buf, calls scrypt_batch(count), and reads the hashes from out_buf.
 *
 * Salsa20/8 runs in the diagonal ("SSE") layout of Colin Percival's crypto_scrypt-sse.c: each 64-byte
 * block is stored permuted (word i of the stored block is word i*5 mod 16 of the real block) so that one
 * quarter-round step is one vector operation on four words and a round needs only three lane rotations.
 * SHA-256 / HMAC / PBKDF2 (about 4% of the time) are plain scalar code, once per lane.
 *
 * Build: native/scrypt-simd/build.sh (clang --target=wasm32 -msimd128, wasm-ld). Reference: RFC 7914.
 */
typedef unsigned int u32;
typedef unsigned char u8;
typedef unsigned long size_t;
typedef u32 v4 __attribute__((vector_size(16), aligned(16)));

/* Full groups of WIDE headers are hashed WIDE at a time; a last group of NARROW or fewer, NARROW at a time
 * (8 lanes measured about 4% faster than 4 here, but would pad a lone share to 8 hashes). */
#ifndef WIDE
#define WIDE 8
#endif
#define NARROW 4
#if WIDE < NARROW
#error WIDE must be at least NARROW
#endif
#define N 1024
#define MAX_BATCH 256

#define EXPORT(name) __attribute__((export_name(name)))

static u8 in_buf[MAX_BATCH * 80] __attribute__((aligned(16)));
static u8 out_buf[MAX_BATCH * 32] __attribute__((aligned(16)));
/* Per lane scratchpad: N blocks of 128 bytes (8 vectors). */
static v4 V[WIDE][N * 8];

EXPORT("in_ptr") u8 *in_ptr(void) { return in_buf; }
EXPORT("out_ptr") u8 *out_ptr(void) { return out_buf; }
EXPORT("max_batch") u32 max_batch(void) { return MAX_BATCH; }
/* The granularity a caller should batch in (the narrow group), and the widest group. */
EXPORT("lanes") u32 lanes(void) { return NARROW; }
EXPORT("wide_lanes") u32 wide_lanes(void) { return WIDE; }

/* ---------------- SHA-256 ---------------- */

static const u32 K256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const u32 SHA256_IV[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline u32 ror(u32 x, int n) { return (x >> n) | (x << (32 - n)); }
static inline u32 be32(const u8 *p) { return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | p[3]; }
static inline void put_be32(u8 *p, u32 x) { p[0] = x >> 24; p[1] = x >> 16; p[2] = x >> 8; p[3] = x; }

static void sha256_block(u32 s[8], const u8 blk[64]) {
  u32 w[64];
  for (int i = 0; i < 16; i++) w[i] = be32(blk + 4 * i);
  for (int i = 16; i < 64; i++) {
    u32 s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    u32 s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  u32 a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (int i = 0; i < 64; i++) {
    u32 t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
    u32 t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

typedef struct { u32 s[8]; u8 buf[64]; u32 fill; u32 total; } sha256_ctx;

static void sha_init_state(sha256_ctx *c, const u32 st[8], u32 total) {
  for (int i = 0; i < 8; i++) c->s[i] = st[i];
  c->fill = 0; c->total = total;
}

static void sha_update(sha256_ctx *c, const u8 *p, u32 n) {
  c->total += n;
  while (n > 0) {
    u32 take = 64 - c->fill;
    if (take > n) take = n;
    for (u32 i = 0; i < take; i++) c->buf[c->fill + i] = p[i];
    c->fill += take; p += take; n -= take;
    if (c->fill == 64) { sha256_block(c->s, c->buf); c->fill = 0; }
  }
}

static void sha_final(sha256_ctx *c, u8 out[32]) {
  u32 bits = c->total * 8; /* messages here are far below 512 MiB */
  c->buf[c->fill++] = 0x80;
  if (c->fill > 56) {
    while (c->fill < 64) c->buf[c->fill++] = 0;
    sha256_block(c->s, c->buf);
    c->fill = 0;
  }
  while (c->fill < 60) c->buf[c->fill++] = 0;
  put_be32(c->buf + 60, bits);
  sha256_block(c->s, c->buf);
  for (int i = 0; i < 8; i++) put_be32(out + 4 * i, c->s[i]);
}

/* HMAC-SHA256 keyed by an 80-byte header: the inner and outer states after the padded key. */
typedef struct { u32 inner[8]; u32 outer[8]; } hmac_key;

static void hmac_setup(hmac_key *k, const u8 header[80]) {
  sha256_ctx c;
  u8 key[64], pad[64];
  sha_init_state(&c, SHA256_IV, 0);
  sha_update(&c, header, 80);
  sha_final(&c, key); /* key longer than a block: hashed, then zero-padded */
  for (int i = 32; i < 64; i++) key[i] = 0;
  for (int i = 0; i < 8; i++) { k->inner[i] = SHA256_IV[i]; k->outer[i] = SHA256_IV[i]; }
  for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x36;
  sha256_block(k->inner, pad);
  for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x5c;
  sha256_block(k->outer, pad);
}

/* PBKDF2-HMAC-SHA256 with one iteration: out[dk] = concat over i of HMAC(key, salt || be32(i)). */
static void pbkdf2_1(const hmac_key *k, const u8 *salt, u32 saltlen, u8 *out, u32 dklen) {
  sha256_ctx base, c;
  u8 ibuf[4], inner[32], t[32];
  sha_init_state(&base, k->inner, 64);
  sha_update(&base, salt, saltlen);
  for (u32 i = 1; dklen > 0; i++) {
    c = base;
    put_be32(ibuf, i);
    sha_update(&c, ibuf, 4);
    sha_final(&c, inner);
    sha_init_state(&c, k->outer, 64);
    sha_update(&c, inner, 32);
    sha_final(&c, t);
    u32 take = dklen < 32 ? dklen : 32;
    for (u32 j = 0; j < take; j++) out[j] = t[j];
    out += take; dklen -= take;
  }
}

/* ---------------- Salsa20/8 and scrypt's BlockMix, LANES at a time ---------------- */

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define SH(v, a, b, c, d) __builtin_shufflevector((v), (v), a, b, c, d)
#define FOR_LANES(l) _Pragma("clang loop unroll(full)") for (int l = 0; l < LANES; l++) /* LANES: see the includes below */

/* ---------------- scrypt for a group of headers, in two widths ---------------- */

#define LANES WIDE
#define SUFFIX(name) name##_wide
#include "scrypt-lanes.inc"
#undef LANES
#undef SUFFIX
#define LANES NARROW
#define SUFFIX(name) name##_narrow
#include "scrypt-lanes.inc"
#undef LANES
#undef SUFFIX

/* Hashes in_buf[0 .. 80*count) into out_buf[0 .. 32*count). Returns the number hashed. */
EXPORT("scrypt_batch") u32 scrypt_batch(u32 count) {
  if (count > MAX_BATCH) count = MAX_BATCH;
  for (u32 i = 0; i < count;) {
    u32 left = count - i;
    if (left > NARROW) {
      u32 n = left < WIDE ? left : WIDE;
      scrypt_group_wide(in_buf + 80 * i, out_buf + 32 * i, n);
      i += n;
    } else {
      scrypt_group_narrow(in_buf + 80 * i, out_buf + 32 * i, left);
      i += left;
    }
  }
  return count;
}
