/* Thin wrappers over OpenSSL libcrypto: secure random, SHA-256, HMAC-SHA-256, AES-256-GCM. */
#ifndef NEO_CRYPTO_SHIM_H
#define NEO_CRYPTO_SHIM_H
#include <stddef.h>
#include <stdint.h>

/* Fill `out` with `n` cryptographically secure random bytes. Returns 1 on success. */
int cshim_random_bytes(uint8_t *out, size_t n);
void cshim_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
void cshim_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len, uint8_t out[32]);
/* Constant-time comparison of n bytes. Returns 1 when equal. */
int cshim_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* AES-256-GCM. `ct` has room for pt_len bytes. Returns 1 on success. */
int cshim_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12],
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *pt, size_t pt_len, uint8_t *ct, uint8_t tag[16]);
/* Returns 1 when the tag verifies and `pt` (room for ct_len bytes) holds the plaintext; 0 otherwise. */
int cshim_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12],
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *ct, size_t ct_len, const uint8_t tag[16], uint8_t *pt);
#endif
