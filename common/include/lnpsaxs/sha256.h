#pragma once
// SHA-256 through OpenSSL's EVP interface (a well-kept library rather than our own hash).
#include <string>
#include <string_view>

namespace lnpsaxs {
/// Lower-case hex SHA-256 digest (64 characters) of `data`. Throws RuntimeFailure if OpenSSL fails.
std::string sha256_hex(std::string_view data);
}  // namespace lnpsaxs
