#include "crypto_shim.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <errno.h>
#include <sys/random.h>

/* The kernel's CSPRNG (getrandom(2), flags 0: it waits only until the pool is first seeded, never returns
 * predictable bytes). Not OpenSSL's RAND_bytes: under the server's threads that took ~7 us a call (its
 * DRBG locks), five of them inside each callback's write; getrandom takes ~0.5 us. */
int cshim_random_bytes(uint8_t *out, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t got = getrandom(out + done, n - done, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        done += (size_t)got;
    }
    return 1;
}

void cshim_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    SHA256(data, len, out);
}

void cshim_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len, uint8_t out[32]) {
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

int cshim_ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    return CRYPTO_memcmp(a, b, n) == 0;
}

int cshim_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12],
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *pt, size_t pt_len, uint8_t *ct, uint8_t tag[16]) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0;
    if (!ctx) return 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) goto out;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) goto out;
    if (aad_len && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) goto out;
    if (pt_len && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len) != 1) goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

int cshim_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12],
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *ct, size_t ct_len, const uint8_t tag[16], uint8_t *pt) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0;
    if (!ctx) return 0;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) goto out;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) goto out;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) goto out;
    if (ct_len && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ct_len) != 1) goto out;
    /* The tag is const for callers; OpenSSL's ctrl takes void*, it only reads it here. */
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(uintptr_t)tag) != 1) goto out;
    ok = EVP_DecryptFinal_ex(ctx, pt + n, &n) == 1;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}
