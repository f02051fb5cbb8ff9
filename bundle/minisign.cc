// minisign formats over libsodium: Ed25519, BLAKE2b, scrypt (crypto_pwhash_scryptsalsa208sha256).
#include "bundle/minisign.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/encoding.h"

namespace airlock::bundle {
namespace {

constexpr std::string_view kUntrustedPrefix = "untrusted comment: ";
constexpr std::string_view kTrustedPrefix = "trusted comment: ";
constexpr size_t kSigFileMax = 16 * 1024;
constexpr size_t kTrustedCommentMax = 8192;
// Layout of the secret key blob: sig_alg[2] kdf_alg[2] chk_alg[2] salt[32] ops[8] mem[8]
// then keynum_sk = key_id[8] sk[64] chk[32] (104 bytes, XORed with the scrypt stream).
constexpr size_t kSkHeader = 2 + 2 + 2 + 32 + 8 + 8;
constexpr size_t kKeynumSk = 8 + 64 + 32;

void put_le64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Splits text into lines; a final newline is optional. Rejects CR.
Result<std::vector<std::string_view>> split_lines(std::string_view text, std::string_view what) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (line.find('\r') != std::string_view::npos) {
      return make_error(Errc::kParse, std::string(what) + ": carriage return in line " +
                                          std::to_string(lines.size() + 1));
    }
    lines.push_back(line);
    start = nl + 1;
  }
  return lines;
}

void blake2b_256_check(uint8_t out[32], const uint8_t sig_alg[2], const KeyId& id,
                       const uint8_t* sk) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, sig_alg, 2);
  crypto_generichash_update(&st, id.data(), id.size());
  crypto_generichash_update(&st, sk, 64);
  crypto_generichash_final(&st, out, 32);
}

void xor_with_scrypt(uint8_t* data, size_t len, const std::string& passphrase, const uint8_t* salt,
                     uint64_t ops, uint64_t mem) {
  std::vector<uint8_t> stream(len);
  if (crypto_pwhash_scryptsalsa208sha256(stream.data(), len, passphrase.data(), passphrase.size(),
                                         salt, ops, static_cast<size_t>(mem)) != 0) {
    throw std::bad_alloc();  // scrypt only fails when it cannot allocate its memory
  }
  for (size_t i = 0; i < len; ++i) data[i] ^= stream[i];
  sodium_memzero(stream.data(), len);
}

}  // namespace

SecretKey::SecretKey() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");  // idempotent
  sk_ = static_cast<uint8_t*>(sodium_malloc(64));
  if (sk_ == nullptr) throw std::bad_alloc();
  sodium_memzero(sk_, 64);
}
SecretKey::~SecretKey() {
  if (sk_) sodium_free(sk_);
}
SecretKey::SecretKey(SecretKey&& o) noexcept : key_id(o.key_id), sk_(o.sk_) { o.sk_ = nullptr; }
SecretKey& SecretKey::operator=(SecretKey&& o) noexcept {
  if (this != &o) {
    if (sk_) sodium_free(sk_);
    key_id = o.key_id;
    sk_ = o.sk_;
    o.sk_ = nullptr;
  }
  return *this;
}

PublicKey SecretKey::public_key() const {
  PublicKey p;
  p.key_id = key_id;
  crypto_sign_ed25519_sk_to_pk(p.pk.data(), sk_);
  return p;
}

std::string key_id_hex(const KeyId& id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(get_le64(id.data())));
  return buf;
}

KeyPair generate_key_pair() {
  KeyPair kp;
  randombytes_buf(kp.secret.key_id.data(), kp.secret.key_id.size());
  kp.pub.key_id = kp.secret.key_id;
  crypto_sign_keypair(kp.pub.pk.data(), kp.secret.sk());
  return kp;
}

std::string format_public_key(const PublicKey& key) {
  uint8_t raw[42];
  raw[0] = 'E';
  raw[1] = 'd';
  std::memcpy(raw + 2, key.key_id.data(), 8);
  std::memcpy(raw + 10, key.pk.data(), 32);
  return std::string(kUntrustedPrefix) + "minisign public key " + key_id_hex(key.key_id) + "\n" +
         base64_encode(raw, sizeof raw) + "\n";
}

Result<PublicKey> parse_public_key(std::string_view text, std::string_view what) {
  const std::string w(what);
  if (text.size() > kSigFileMax) return make_error(Errc::kLimit, w + ": public key file too large");
  TRY_ASSIGN(auto lines, split_lines(text, what));
  // Accept a bare base64 key (minisign -P form) or the two-line file.
  std::string_view b64;
  if (lines.size() == 1) {
    b64 = lines[0];
  } else if (lines.size() == 2 && lines[0].substr(0, kUntrustedPrefix.size()) == kUntrustedPrefix) {
    b64 = lines[1];
  } else {
    return make_error(Errc::kParse,
                      w + ": not a minisign public key (want 'untrusted comment:' line and key line)");
  }
  auto raw = base64_decode(b64);
  if (!raw.ok() || raw->size() != 42) {
    return make_error(Errc::kParse, w + ": public key line is not 42 bytes of base64");
  }
  if ((*raw)[0] != 'E' || (*raw)[1] != 'd') {
    return make_error(Errc::kUnsupported, w + ": public key algorithm is not Ed25519 ('Ed')");
  }
  PublicKey k;
  std::memcpy(k.key_id.data(), raw->data() + 2, 8);
  std::memcpy(k.pk.data(), raw->data() + 10, 32);
  return k;
}

std::string format_secret_key(const SecretKey& key, const std::optional<std::string>& passphrase) {
  std::vector<uint8_t> raw(kSkHeader + kKeynumSk, 0);
  const uint8_t sig_alg[2] = {'E', 'd'};
  raw[0] = 'E';
  raw[1] = 'd';
  raw[4] = 'B';
  raw[5] = '2';
  uint8_t* keynum = raw.data() + kSkHeader;
  std::memcpy(keynum, key.key_id.data(), 8);
  std::memcpy(keynum + 8, key.sk(), 64);
  blake2b_256_check(keynum + 72, sig_alg, key.key_id, key.sk());
  if (passphrase) {
    raw[2] = 'S';
    raw[3] = 'c';
    uint8_t* salt = raw.data() + 6;
    randombytes_buf(salt, 32);
    const uint64_t ops = crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE;
    const uint64_t mem = crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE;
    put_le64(raw.data() + 38, ops);
    put_le64(raw.data() + 46, mem);
    xor_with_scrypt(keynum, kKeynumSk, *passphrase, salt, ops, mem);
  }
  std::string out = std::string(kUntrustedPrefix) +
                    (passphrase ? "minisign encrypted secret key" : "minisign secret key") + "\n" +
                    base64_encode(raw.data(), raw.size()) + "\n";
  sodium_memzero(raw.data(), raw.size());
  return out;
}

namespace {
Result<std::string> secret_key_raw(std::string_view text, std::string_view what) {
  const std::string w(what);
  TRY_ASSIGN(auto lines, split_lines(text, what));
  if (lines.size() != 2 || lines[0].substr(0, kUntrustedPrefix.size()) != kUntrustedPrefix) {
    return make_error(Errc::kParse, w + ": not a minisign secret key file");
  }
  auto raw = base64_decode(lines[1]);
  if (!raw.ok() || raw->size() != kSkHeader + kKeynumSk) {
    return make_error(Errc::kParse, w + ": secret key line is not 158 bytes of base64");
  }
  if ((*raw)[0] != 'E' || (*raw)[1] != 'd' || (*raw)[4] != 'B' || (*raw)[5] != '2') {
    return make_error(Errc::kUnsupported, w + ": unsupported secret key algorithm");
  }
  return std::move(raw).value();
}
}  // namespace

Result<bool> secret_key_is_encrypted(std::string_view text, std::string_view what) {
  TRY_ASSIGN(std::string raw, secret_key_raw(text, what));
  return raw[2] == 'S' && raw[3] == 'c';
}

Result<SecretKey> parse_secret_key(std::string_view text, std::string_view what,
                                   const std::optional<std::string>& passphrase) {
  const std::string w(what);
  TRY_ASSIGN(std::string raw_s, secret_key_raw(text, what));
  auto* raw = reinterpret_cast<uint8_t*>(raw_s.data());
  uint8_t* keynum = raw + kSkHeader;
  bool encrypted = raw[2] == 'S' && raw[3] == 'c';
  if (!encrypted && !(raw[2] == 0 && raw[3] == 0)) {
    return make_error(Errc::kUnsupported, w + ": unknown key derivation algorithm");
  }
  if (encrypted) {
    if (!passphrase) return make_error(Errc::kInvalidArgument, w + ": key is encrypted; a passphrase is needed");
    uint64_t ops = get_le64(raw + 38), mem = get_le64(raw + 46);
    if (mem > (2ull << 30) || ops > (1ull << 32)) {
      return make_error(Errc::kLimit, w + ": scrypt parameters are beyond sane limits");
    }
    try {
      xor_with_scrypt(keynum, kKeynumSk, *passphrase, raw + 6, ops, mem);
    } catch (const std::bad_alloc&) {
      return make_error(Errc::kIo, w + ": not enough memory for scrypt");
    }
  }
  SecretKey key;
  std::memcpy(key.key_id.data(), keynum, 8);
  std::memcpy(key.sk(), keynum + 8, 64);
  uint8_t chk[32];
  blake2b_256_check(chk, raw, key.key_id, key.sk());
  static const uint8_t zero[32] = {};
  // minisign 0.11 writes an all-zero checksum for unencrypted (-W) keys.
  bool chk_ok = sodium_memcmp(chk, keynum + 72, 32) == 0 ||
                (!encrypted && sodium_memcmp(zero, keynum + 72, 32) == 0);
  sodium_memzero(raw_s.data(), raw_s.size());
  if (!chk_ok) {
    return make_error(encrypted ? Errc::kInvalidArgument : Errc::kParse,
                      w + (encrypted ? ": wrong passphrase (key checksum does not match)"
                                     : ": secret key checksum does not match"));
  }
  return key;
}

std::array<uint8_t, 64> blake2b_512(std::string_view message) {
  std::array<uint8_t, 64> h{};
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const uint8_t*>(message.data()),
                     message.size(), nullptr, 0);
  return h;
}

std::string sign_message(const SecretKey& key, std::string_view message,
                         std::string_view trusted_comment, std::string_view untrusted_comment) {
  auto h = blake2b_512(message);
  uint8_t raw[74];
  raw[0] = 'E';
  raw[1] = 'D';
  std::memcpy(raw + 2, key.key_id.data(), 8);
  crypto_sign_detached(raw + 10, nullptr, h.data(), h.size(), key.sk());
  std::vector<uint8_t> g(64 + trusted_comment.size());
  std::memcpy(g.data(), raw + 10, 64);
  std::memcpy(g.data() + 64, trusted_comment.data(), trusted_comment.size());
  uint8_t gsig[64];
  crypto_sign_detached(gsig, nullptr, g.data(), g.size(), key.sk());
  return std::string(kUntrustedPrefix) + std::string(untrusted_comment) + "\n" +
         base64_encode(raw, sizeof raw) + "\n" + std::string(kTrustedPrefix) +
         std::string(trusted_comment) + "\n" + base64_encode(gsig, sizeof gsig) + "\n";
}

Result<Signature> parse_signature(std::string_view text, std::string_view what) {
  const std::string w(what);
  if (text.size() > kSigFileMax) return make_error(Errc::kLimit, w + ": signature file larger than 16 KiB");
  TRY_ASSIGN(auto lines, split_lines(text, what));
  if (lines.size() != 4) {
    return make_error(Errc::kParse, w + ": a signature has exactly 4 lines, found " +
                                        std::to_string(lines.size()));
  }
  Signature s;
  if (lines[0].substr(0, kUntrustedPrefix.size()) != kUntrustedPrefix) {
    return make_error(Errc::kParse, w + ": line 1 does not start with 'untrusted comment: '");
  }
  s.untrusted_comment = std::string(lines[0].substr(kUntrustedPrefix.size()));
  auto raw = base64_decode(lines[1]);
  if (!raw.ok() || raw->size() != 74) {
    return make_error(Errc::kParse, w + ": line 2 is not 74 bytes of base64");
  }
  if ((*raw)[0] == 'E' && (*raw)[1] == 'd') {
    return make_error(Errc::kUnsupported,
                      w + ": legacy non-prehashed signature ('Ed') refused; sign with a prehashed ('ED') signer");
  }
  if ((*raw)[0] != 'E' || (*raw)[1] != 'D') {
    return make_error(Errc::kUnsupported, w + ": unknown signature algorithm");
  }
  std::memcpy(s.key_id.data(), raw->data() + 2, 8);
  std::memcpy(s.sig.data(), raw->data() + 10, 64);
  if (lines[2].substr(0, kTrustedPrefix.size()) != kTrustedPrefix) {
    return make_error(Errc::kParse, w + ": line 3 does not start with 'trusted comment: '");
  }
  s.trusted_comment = std::string(lines[2].substr(kTrustedPrefix.size()));
  if (s.trusted_comment.size() > kTrustedCommentMax) {
    return make_error(Errc::kLimit, w + ": trusted comment longer than 8192 bytes");
  }
  auto graw = base64_decode(lines[3]);
  if (!graw.ok() || graw->size() != 64) {
    return make_error(Errc::kParse, w + ": line 4 is not 64 bytes of base64");
  }
  std::memcpy(s.global_sig.data(), graw->data(), 64);
  return s;
}

Status verify_signature(const PublicKey& key, const Signature& sig, std::string_view message,
                        std::string_view what) {
  const std::string w(what);
  if (sig.key_id != key.key_id) {
    return make_error(Errc::kSignature, w + ": signed by key " + key_id_hex(sig.key_id) +
                                            ", not by " + key_id_hex(key.key_id));
  }
  auto h = blake2b_512(message);
  if (crypto_sign_verify_detached(sig.sig.data(), h.data(), h.size(), key.pk.data()) != 0) {
    return make_error(Errc::kSignature, w + ": signature does not match the signed file (key " +
                                            key_id_hex(key.key_id) + ")");
  }
  std::vector<uint8_t> g(64 + sig.trusted_comment.size());
  std::memcpy(g.data(), sig.sig.data(), 64);
  std::memcpy(g.data() + 64, sig.trusted_comment.data(), sig.trusted_comment.size());
  if (crypto_sign_verify_detached(sig.global_sig.data(), g.data(), g.size(), key.pk.data()) != 0) {
    return make_error(Errc::kSignature,
                      w + ": trusted comment signature does not verify (comment altered?)");
  }
  return {};
}

}  // namespace airlock::bundle
