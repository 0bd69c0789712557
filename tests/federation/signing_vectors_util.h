// Access to tests/vectors/signing.json for the federation tests. The file
// is read at run time; tests never copy its values into code.
#ifndef FEDRELAY_TESTS_FEDERATION_SIGNING_VECTORS_UTIL_H_
#define FEDRELAY_TESTS_FEDERATION_SIGNING_VECTORS_UTIL_H_

#include <nlohmann/json.hpp>
#include <string>

#include "base/crypto.h"

namespace fedrelay::federation::test_vectors {

// The parsed signing.json (loaded once). Aborts the test binary when the file
// is missing or unparsable: every vector test depends on it.
const nlohmann::json& SigningVectors();

// The key named in signing.json "keys", derived from its seed_hex.
Ed25519PrivateKey VectorKey(const std::string& name);

// The vector with this "name"; aborts when there is none.
const nlohmann::json& FindVector(const std::string& name);

// The value of the field named `field` in vector["fields"]; aborts when absent.
const nlohmann::json& FieldValue(const nlohmann::json& vector, const std::string& field);

// Decodes lowercase hex from the vector file; aborts on bad hex.
std::string Unhex(const std::string& hex);

}  // namespace fedrelay::federation::test_vectors

#endif  // FEDRELAY_TESTS_FEDERATION_SIGNING_VECTORS_UTIL_H_
