#include "federation/signing_vectors_util.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "base/encoding.h"

namespace fedrelay::federation::test_vectors {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "signing.json: %s\n", why.c_str());
  std::abort();
}

nlohmann::json Load() {
  const std::string path = FEDRELAY_SOURCE_DIR "/tests/vectors/signing.json";
  std::ifstream in(path);
  if (!in) Die("cannot open " + path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    Die(std::string("cannot parse: ") + e.what());
  }
}

}  // namespace

const nlohmann::json& SigningVectors() {
  static const nlohmann::json* const vectors = new nlohmann::json(Load());
  return *vectors;
}

Ed25519PrivateKey VectorKey(const std::string& name) {
  const auto& keys = SigningVectors().at("keys");
  if (!keys.contains(name)) Die("no key " + name);
  auto key = Ed25519PrivateKey::FromSeed(Unhex(keys.at(name).at("seed_hex").get<std::string>()));
  if (!key.ok()) Die("bad seed for " + name);
  return *key;
}

const nlohmann::json& FindVector(const std::string& name) {
  for (const auto& vector : SigningVectors().at("vectors")) {
    if (vector.at("name") == name) return vector;
  }
  Die("no vector " + name);
}

const nlohmann::json& FieldValue(const nlohmann::json& vector, const std::string& field) {
  for (const auto& f : vector.at("fields")) {
    if (f.at("name") == field) return f.at("value");
  }
  Die("vector " + vector.at("name").get<std::string>() + " has no field " + field);
}

std::string Unhex(const std::string& hex) {
  auto raw = HexDecode(hex, "vector hex");
  if (!raw.ok()) Die("bad hex " + hex);
  return *raw;
}

}  // namespace fedrelay::federation::test_vectors
