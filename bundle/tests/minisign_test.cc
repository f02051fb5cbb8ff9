// minisign format: the shared test vector, sign/verify round trips, key files, and refusals.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>

#include "bundle/minisign.h"
#include "common/encoding.h"
#include "common/fs.h"

namespace airlock::bundle {
namespace {

std::string fixture(const std::string& name) {
  return *read_file(std::string(AIRLOCK_FIXTURES) + "/minisign/" + name);
}

class Minisign : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(Minisign, VerifiesSharedTestVector) {
  auto pub = parse_public_key(fixture("test.pub"), "test.pub");
  ASSERT_TRUE(pub.ok()) << pub.error().describe();
  EXPECT_EQ(key_id_hex(pub->key_id), "0807060504030201");
  auto sig = parse_signature(fixture("test.minisig"), "test.minisig");
  ASSERT_TRUE(sig.ok()) << sig.error().describe();
  std::string msg = fixture("message.json");
  EXPECT_EQ(hex_encode(blake2b_512(msg).data(), 64),
            "8cdc571f09a7a55aaf020403212bf2353c7e3369756ac8049bf446542aac569d529eb023bfd076f7fcbc5d991ba53704324c400b7176f7f7a1eb3b0a9d982869");
  EXPECT_TRUE(verify_signature(*pub, *sig, msg, "test.minisig").ok());
  msg[3] ^= 1;
  auto bad = verify_signature(*pub, *sig, msg, "test.minisig");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("does not match the signed file"), std::string::npos);
}

TEST_F(Minisign, TrustedCommentEditFails) {
  auto pub = parse_public_key(fixture("test.pub"), "p");
  std::string text = fixture("test.minisig");
  auto pos = text.find("version:42");
  text.replace(pos, 10, "version:43");
  auto sig = parse_signature(text, "s");
  ASSERT_TRUE(sig.ok());
  auto st = verify_signature(*pub, *sig, fixture("message.json"), "s");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("trusted comment signature does not verify"), std::string::npos);
}

TEST_F(Minisign, SeedVectorReproducesPublicKey) {
  // seed = 0x42 x 32 gives the pk of the shared vector.
  uint8_t seed[32], pk[32], sk[64];
  std::memset(seed, 0x42, 32);
  crypto_sign_seed_keypair(pk, sk, seed);
  auto pub = parse_public_key(fixture("test.pub"), "p");
  EXPECT_EQ(std::memcmp(pk, pub->pk.data(), 32), 0);
}

TEST_F(Minisign, SignVerifyRoundTripAndKeyFiles) {
  auto kp = generate_key_pair();
  std::string sig_text = sign_message(kp.secret, "hello", "timestamp:1\tfile:x", "c");
  auto pub = parse_public_key(format_public_key(kp.pub), "k.pub");
  ASSERT_TRUE(pub.ok());
  auto sig = parse_signature(sig_text, "s");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(verify_signature(*pub, *sig, "hello", "s").ok());

  auto sk_text = format_secret_key(kp.secret, std::nullopt);
  EXPECT_FALSE(*secret_key_is_encrypted(sk_text, "k"));
  auto sk = parse_secret_key(sk_text, "k.key", std::nullopt);
  ASSERT_TRUE(sk.ok()) << sk.error().describe();
  EXPECT_EQ(std::memcmp(sk->sk(), kp.secret.sk(), 64), 0);
  EXPECT_EQ(sk->key_id, kp.secret.key_id);
}

TEST_F(Minisign, RefusesLegacyAndMalformedSignatures) {
  auto kp = generate_key_pair();
  std::string text = sign_message(kp.secret, "m", "tc", "c");
  // Turn "ED" into legacy "Ed" in line 2.
  auto l2 = text.find('\n') + 1;
  auto l2_end = text.find('\n', l2);
  auto raw = *base64_decode(std::string_view(text).substr(l2, l2_end - l2));
  raw[1] = 'd';
  std::string legacy = text.substr(0, l2) + base64_encode(raw.data(), raw.size()) + text.substr(l2_end);
  auto r = parse_signature(legacy, "s");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  EXPECT_FALSE(parse_signature(text + "extra\n", "s").ok());
  EXPECT_FALSE(parse_signature("untrusted comment: x\n!!!\ntrusted comment: t\nAAAA\n", "s").ok());
}

}  // namespace
}  // namespace airlock::bundle
