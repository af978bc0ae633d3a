// Internal: a SQLCipher crypto provider that keeps OpenSSL's algorithms and
// contexts between pages.
//
// SQLCipher 4.6's OpenSSL provider, for every page it reads or writes,
// fetches HMAC by name, makes a MAC context, fetches SHA-512 by name again
// inside it, and frees both; and makes, initialises and frees a cipher
// context (OpenSSL 3 resolves EVP_aes_256_cbc() to its provider on every
// initialisation). On this project's machine that set-up cost about 3 us of
// the 12 us that HMAC-SHA512 of a page takes and 0.6 us of the 2 us of its
// AES-256-CBC decryption: a quarter of the crypto time of a write that
// reads four pages and writes one.
//
// This provider is the stock one (SQLCipher's own, copied from
// sqlcipher_get_provider()) with `hmac` and `cipher` replaced by versions
// that fetch HMAC, SHA-512 and AES-256-CBC once per process and keep one
// MAC context and one cipher context per thread, re-keyed on every call.
// The computation is the same OpenSSL code on the same bytes, so the file
// format does not change: files written with it open in the stock
// `sqlcipher` shell and the reverse (tests show both).
//
// Process-wide: SQLCipher copies the registered provider into every
// connection it opens after the registration, so every SQLCipher connection
// of the process opened afterwards uses it, the library's or not.
// Connections opened before keep the stock one. Installed once, before the
// library's first connection (install_fast_crypto), with an "anchor": one
// keyed in-memory connection that stays open for the life of the process,
// because SQLCipher drops the registered provider whenever the process's
// last keyed connection closes (a command-line process that opens and
// closes its only connection in turn would be back on the stock one at its
// second open). It is not installed
// (the stock provider stays) when the provider in place is not SQLCipher's
// OpenSSL one (another was registered), when its struct does not look like
// the 4.x layout this file mirrors (sqlcipher.h is not installed by Debian,
// so the layout is checked at run time: the name "openssl", key, IV, block
// and HMAC sizes 32/16/16/64, SQLCipher version 4), or when a self-test of
// both functions against the stock ones on the same inputs does not give
// the same bytes.
//
// Keys: the contexts hold the last key they were given (as the stock
// provider's did for one call); they are freed, and OpenSSL wipes them, when
// the thread ends, and every call re-keys them. The keys themselves live in
// SQLCipher's codec for the connection's lifetime either way.
#ifndef COORDKIT_DB_INTERNAL_CRYPTO_PROVIDER_H_
#define COORDKIT_DB_INTERNAL_CRYPTO_PROVIDER_H_

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sqlcipher/sqlite3.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

// Exported by libsqlcipher 4.x (declared in its sqlcipher.h, which is not
// installed). The provider is passed as an opaque pointer here and read
// through SqlcipherProvider below.
extern "C" {
int sqlcipher_register_provider(void* provider);
void* sqlcipher_get_provider(void);
int sqlcipher_openssl_setup(void* provider);
void* sqlcipher_malloc(std::uint64_t size);
void sqlcipher_free(void* ptr, std::uint64_t size);
char* sqlcipher_version(void);
}

namespace coordkit::db::internal {

// SqlcipherProvider: SQLCipher 4.x's `sqlcipher_provider` (sqlcipher.h,
// unchanged from 4.0 to 4.6): 17 function pointers in this order.
struct SqlcipherProvider {
  int (*activate)(void* ctx);
  int (*deactivate)(void* ctx);
  const char* (*get_provider_name)(void* ctx);
  int (*add_random)(void* ctx, void* buffer, int length);
  int (*random)(void* ctx, void* buffer, int length);
  int (*hmac)(void* ctx, int algorithm, unsigned char* hmac_key, int key_sz, unsigned char* in,
              int in_sz, unsigned char* in2, int in2_sz, unsigned char* out);
  int (*kdf)(void* ctx, int algorithm, const unsigned char* pass, int pass_sz, unsigned char* salt,
             int salt_sz, int workfactor, int key_sz, unsigned char* key);
  int (*cipher)(void* ctx, int mode, unsigned char* key, int key_sz, unsigned char* iv,
                unsigned char* in, int in_sz, unsigned char* out);
  const char* (*get_cipher)(void* ctx);
  int (*get_key_sz)(void* ctx);
  int (*get_iv_sz)(void* ctx);
  int (*get_block_sz)(void* ctx);
  int (*get_hmac_sz)(void* ctx, int algorithm);
  int (*ctx_init)(void** ctx);
  int (*ctx_free)(void** ctx);
  int (*fips_status)(void* ctx);
  const char* (*get_provider_version)(void* ctx);
};
static_assert(sizeof(SqlcipherProvider) == 17 * sizeof(void*));

// What FastCrypto::state() says.
enum class FastCryptoState {
  kNotTried,        // no library connection was opened yet
  kInstalled,       // registered (and anchored) for the rest of the process
  kNotOpenSsl,      // the provider in place is not SQLCipher's OpenSSL one
  kUnknownLayout,   // SQLCipher's version or the struct's sizes are not the expected ones
  kSelfTestFailed,  // OpenSSL refused an algorithm, or the outputs differed from the stock ones
};

class FastCrypto {
 public:
  // SQLCipher's algorithm numbers (sqlcipher.h) and cipher modes (crypto.h).
  static constexpr int kHmacSha1 = 0;
  static constexpr int kHmacSha256 = 1;
  static constexpr int kHmacSha512 = 2;
  static constexpr int kEncrypt = 1;
  static constexpr int kDecrypt = 0;

  // install: registers the provider once per process (see the file
  // comment); later calls return at once. Thread-safe. Never throws.
  static void install() noexcept {
    static std::once_flag once;
    std::call_once(once, [] { state_ref().store(try_install()); });
  }

  // in_place: whether the provider connections opened now get is this one.
  static bool in_place() noexcept {
    sqlite3_mutex* mu = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_MAIN);
    sqlite3_mutex_enter(mu);
    const auto* current = static_cast<const SqlcipherProvider*>(sqlcipher_get_provider());
    const bool mine = current != nullptr && current->hmac == &FastCrypto::hmac &&
                      current->cipher == &FastCrypto::cipher;
    sqlite3_mutex_leave(mu);
    return mine;
  }

  static FastCryptoState state() noexcept { return state_ref().load(); }

  // stock: the provider as it was before install (valid after an install
  // that returned kInstalled; tests compare with it).
  static const SqlcipherProvider& stock() noexcept { return stock_ref(); }

  // hmac / cipher: the replacements (SQLCipher's signatures; ctx unused).
  static int hmac(void*, int algorithm, unsigned char* hmac_key, int key_sz, unsigned char* in,
                  int in_sz, unsigned char* in2, int in2_sz, unsigned char* out) {
    if (in == nullptr || key_sz < 0 || in_sz < 0 || in2_sz < 0) return SQLITE_ERROR;
    if (algorithm < kHmacSha1 || algorithm > kHmacSha512) return SQLITE_ERROR;
    EVP_MAC_CTX* c = ThreadContexts::get().mac(algorithm);
    if (c == nullptr) return SQLITE_ERROR;
    std::size_t out_len = 0;
    const bool ok =
        EVP_MAC_init(c, hmac_key, static_cast<std::size_t>(key_sz), nullptr) == 1 &&
        EVP_MAC_update(c, in, static_cast<std::size_t>(in_sz)) == 1 &&
        (in2 == nullptr || EVP_MAC_update(c, in2, static_cast<std::size_t>(in2_sz)) == 1) &&
        EVP_MAC_final(c, out, &out_len, EVP_MAX_MD_SIZE) == 1;
    return ok ? SQLITE_OK : SQLITE_ERROR;
  }

  static int cipher(void*, int mode, unsigned char* key, int key_sz, unsigned char* iv,
                    unsigned char* in, int in_sz, unsigned char* out) {
    if (key_sz != 32 || in_sz < 0 || in_sz % 16 != 0) return SQLITE_ERROR;
    const Algorithms& a = algorithms();
    EVP_CIPHER_CTX* c = ThreadContexts::get().cipher(mode == kEncrypt);
    if (c == nullptr || a.aes == nullptr) return SQLITE_ERROR;
    int n = 0;
    int tail = 0;
    const bool ok = EVP_CipherInit_ex2(c, a.aes, key, iv, mode == kEncrypt ? 1 : 0, nullptr) == 1 &&
                    EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
                    EVP_CipherUpdate(c, out, &n, in, in_sz) == 1 &&
                    EVP_CipherFinal_ex(c, out + n, &tail) == 1 && n + tail == in_sz;
    return ok ? SQLITE_OK : SQLITE_ERROR;
  }

 private:
  // Algorithms: fetched once per process and never freed (OpenSSL frees
  // them at its own exit clean-up).
  struct Algorithms {
    EVP_MAC* hmac = nullptr;
    EVP_CIPHER* aes = nullptr;
  };
  static const Algorithms& algorithms() noexcept {
    static const Algorithms a = [] {
      Algorithms x;
      x.hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      x.aes = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
      return x;
    }();
    return a;
  }

  // ThreadContexts: this thread's MAC context per digest and cipher context
  // per direction, made on first use, freed (and wiped by OpenSSL) when the
  // thread ends.
  class ThreadContexts {
   public:
    static ThreadContexts& get() noexcept {
      thread_local ThreadContexts t;
      return t;
    }
    ThreadContexts(const ThreadContexts&) = delete;
    ThreadContexts& operator=(const ThreadContexts&) = delete;
    ~ThreadContexts() {
      for (EVP_MAC_CTX*& m : macs_) EVP_MAC_CTX_free(m);
      for (EVP_CIPHER_CTX*& c : ciphers_) EVP_CIPHER_CTX_free(c);
    }

    // mac: a context set to HMAC with the algorithm's digest (re-keyed by
    // each EVP_MAC_init); nullptr if OpenSSL refused.
    EVP_MAC_CTX* mac(int algorithm) noexcept {
      EVP_MAC_CTX*& m = macs_[static_cast<std::size_t>(algorithm)];
      if (m != nullptr) return m;
      const Algorithms& a = algorithms();
      if (a.hmac == nullptr) return nullptr;
      static constexpr const char* kDigest[3] = {"SHA1", "SHA256", "SHA512"};
      EVP_MAC_CTX* c = EVP_MAC_CTX_new(a.hmac);
      if (c == nullptr) return nullptr;
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(kDigest[algorithm]), 0),
          OSSL_PARAM_construct_end()};
      if (EVP_MAC_CTX_set_params(c, params) != 1) {
        EVP_MAC_CTX_free(c);
        return nullptr;
      }
      m = c;
      return m;
    }

    EVP_CIPHER_CTX* cipher(bool encrypt) noexcept {
      EVP_CIPHER_CTX*& c = ciphers_[encrypt ? 1 : 0];
      if (c == nullptr) c = EVP_CIPHER_CTX_new();
      return c;
    }

   private:
    ThreadContexts() = default;
    std::array<EVP_MAC_CTX*, 3> macs_{};
    std::array<EVP_CIPHER_CTX*, 2> ciphers_{};
  };

  static std::atomic<FastCryptoState>& state_ref() noexcept {
    static std::atomic<FastCryptoState> s{FastCryptoState::kNotTried};
    return s;
  }
  static SqlcipherProvider& stock_ref() noexcept {
    static SqlcipherProvider p{};
    return p;
  }

  static FastCryptoState try_install() noexcept {
    if (sqlite3_initialize() != SQLITE_OK) return FastCryptoState::kSelfTestFailed;
    if (!version_is_4()) return FastCryptoState::kUnknownLayout;
    // The anchor: a keyed in-memory connection kept open for the life of
    // the process. SQLCipher frees the registered provider (and the mutexes
    // that guard it) when the process's last keyed connection closes, and
    // makes a stock one at the next; while this one is open that never
    // happens, so the provider registered below stays. Keying it also makes
    // SQLCipher set up the provider in place, which is then checked.
    sqlite3* anchor = nullptr;
    if (sqlite3_open_v2(":memory:", &anchor, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
            SQLITE_OK ||
        sqlite3_key_v2(anchor, "main", "anchor", 6) != SQLITE_OK) {
      sqlite3_close(anchor);
      return FastCryptoState::kUnknownLayout;
    }
    const FastCryptoState s = replace_stock();
    if (s == FastCryptoState::kInstalled) {
      anchor_ref() = anchor;  // never closed
    } else {
      sqlite3_close(anchor);
    }
    return s;
  }

  // replace_stock: registers the provider in place of the stock one if the
  // checks in the file comment pass; keeps the stock one in stock_ref().
  static FastCryptoState replace_stock() noexcept {
    sqlite3_mutex* mu = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_MAIN);
    sqlite3_mutex_enter(mu);
    const FastCryptoState s = replace_stock_locked();
    sqlite3_mutex_leave(mu);
    return s;
  }

  static FastCryptoState replace_stock_locked() noexcept {
    const auto* current = static_cast<const SqlcipherProvider*>(sqlcipher_get_provider());
    if (current == nullptr) return FastCryptoState::kUnknownLayout;
    SqlcipherProvider openssl{};
    if (sqlcipher_openssl_setup(&openssl) != SQLITE_OK) return FastCryptoState::kUnknownLayout;
    // A provider someone else registered stays.
    if (current->hmac != openssl.hmac || current->cipher != openssl.cipher) {
      return FastCryptoState::kNotOpenSsl;
    }
    SqlcipherProvider stock{};
    std::memcpy(&stock, current, sizeof stock);
    if (stock.get_provider_name == nullptr || stock.ctx_init == nullptr ||
        stock.ctx_free == nullptr) {
      return FastCryptoState::kUnknownLayout;
    }
    const char* name = stock.get_provider_name(nullptr);
    if (name == nullptr || std::strcmp(name, "openssl") != 0) return FastCryptoState::kNotOpenSsl;
    if (!sizes_as_expected(stock)) return FastCryptoState::kUnknownLayout;
    if (!same_as(stock)) return FastCryptoState::kSelfTestFailed;
    // SQLCipher frees the provider it replaces (and, at sqlite3_shutdown,
    // this one) with sqlcipher_free: hence sqlcipher_malloc.
    auto* mine = static_cast<SqlcipherProvider*>(sqlcipher_malloc(sizeof(SqlcipherProvider)));
    if (mine == nullptr) return FastCryptoState::kSelfTestFailed;
    *mine = stock;
    mine->hmac = &FastCrypto::hmac;
    mine->cipher = &FastCrypto::cipher;
    if (sqlcipher_register_provider(mine) != SQLITE_OK) {
      sqlcipher_free(mine, sizeof(SqlcipherProvider));
      return FastCryptoState::kSelfTestFailed;
    }
    stock_ref() = stock;
    return FastCryptoState::kInstalled;
  }

  static sqlite3*& anchor_ref() noexcept {
    static sqlite3* a = nullptr;
    return a;
  }

  static bool version_is_4() noexcept {
    char* v = sqlcipher_version();
    const bool ok = v != nullptr && v[0] == '4' && v[1] == '.';
    sqlite3_free(v);
    return ok;
  }

  static bool sizes_as_expected(const SqlcipherProvider& p) noexcept {
    if (p.get_key_sz == nullptr || p.get_iv_sz == nullptr || p.get_block_sz == nullptr ||
        p.get_hmac_sz == nullptr) {
      return false;
    }
    void* ctx = nullptr;
    if (p.ctx_init(&ctx) != SQLITE_OK) return false;
    const bool ok = p.get_key_sz(ctx) == 32 && p.get_iv_sz(ctx) == 16 &&
                    p.get_block_sz(ctx) == 16 && p.get_hmac_sz(ctx, kHmacSha512) == 64 &&
                    p.get_hmac_sz(ctx, kHmacSha1) == 20;
    p.ctx_free(&ctx);
    return ok;
  }

  // same_as: the replacements give the stock functions' bytes, for every
  // HMAC algorithm and both cipher directions, on a page-sized input (with
  // and without the second HMAC input SQLCipher passes: the page number).
  static bool same_as(const SqlcipherProvider& p) noexcept {
    void* ctx = nullptr;
    if (p.ctx_init(&ctx) != SQLITE_OK) return false;
    bool ok = true;
    std::array<unsigned char, 4096> in{};
    std::array<unsigned char, 32> key{};
    std::array<unsigned char, 16> iv{};
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<unsigned char>(i * 7 + 3);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i * 13 + 1);
    for (std::size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<unsigned char>(i * 29 + 5);
    unsigned char page_no[4] = {0, 0, 0, 7};
    for (int alg = kHmacSha1; alg <= kHmacSha512 && ok; ++alg) {
      for (unsigned char* in2 : {static_cast<unsigned char*>(nullptr), page_no}) {
        unsigned char a[EVP_MAX_MD_SIZE] = {};
        unsigned char b[EVP_MAX_MD_SIZE] = {};
        const int n = p.get_hmac_sz(ctx, alg);
        ok = ok && n > 0 && n <= EVP_MAX_MD_SIZE &&
             p.hmac(ctx, alg, key.data(), 32, in.data(), 4016, in2, 4, a) == SQLITE_OK &&
             hmac(ctx, alg, key.data(), 32, in.data(), 4016, in2, 4, b) == SQLITE_OK &&
             std::memcmp(a, b, static_cast<std::size_t>(n)) == 0;
      }
    }
    for (int mode : {kEncrypt, kDecrypt}) {
      std::array<unsigned char, 4096> a{};
      std::array<unsigned char, 4096> b{};
      std::array<unsigned char, 16> iv_a = iv;
      std::array<unsigned char, 16> iv_b = iv;
      ok = ok &&
           p.cipher(ctx, mode, key.data(), 32, iv_a.data(), in.data(), 4000, a.data()) ==
               SQLITE_OK &&
           cipher(ctx, mode, key.data(), 32, iv_b.data(), in.data(), 4000, b.data()) == SQLITE_OK &&
           a == b;
    }
    p.ctx_free(&ctx);
    return ok;
  }
};

// install_fast_crypto: see FastCrypto::install.
inline void install_fast_crypto() noexcept { FastCrypto::install(); }

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_CRYPTO_PROVIDER_H_
