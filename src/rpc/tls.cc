#include "rpc/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xpool::rpc {
namespace {

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("cannot read the " + std::string(what) + " '" + path +
                                   "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using PrivateKey = std::unique_ptr<EVP_PKEY, KeyFree>;

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate in `pem`; null when there is none.
Certificate FirstCertificate(const std::string& pem) {
  Bio bio = MemoryBio(pem);
  return Certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsServerFiles& files) {
  if (files.empty()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() || files.key.empty()) {
    return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
  }
  auto cert = ReadPem(files.cert, "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, "TLS key");
  if (!key.ok()) return key.status();
  const Certificate x509 = FirstCertificate(*cert);
  if (x509 == nullptr) {
    return Status::InvalidArgument("'" + files.cert + "' holds no PEM certificate");
  }
  Bio key_bio = MemoryBio(*key);
  const PrivateKey pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) {
    return Status::InvalidArgument("'" + files.key +
                                   "' holds no PEM private key (or it is encrypted)");
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    return Status::InvalidArgument("the key '" + files.key + "' is not the private key of '" +
                                   files.cert + "'");
  }
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const std::string& ca_file) {
  if (ca_file.empty()) return grpc::InsecureChannelCredentials();
  auto ca = ReadPem(ca_file, "TLS CA");
  if (!ca.ok()) return ca.status();
  if (FirstCertificate(*ca) == nullptr) {
    return Status::InvalidArgument("'" + ca_file + "' holds no PEM certificate");
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = *ca;
  return grpc::SslCredentials(options);
}

}  // namespace xpool::rpc
