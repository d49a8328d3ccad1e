// Transport security of the xpool.v1 API: TLS on the controller's and the agents' gRPC servers,
// and the certificate authority their clients check those servers against (docs/standalone.md,
// "TLS"). Without files, both sides speak plaintext, as before.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace xpool::rpc {

// A server's certificate and private key, PEM files.
struct TlsServerFiles {
  std::string cert;  // the certificate, with its chain up to the CA
  std::string key;
  bool empty() const { return cert.empty() && key.empty(); }
};

// Plaintext when `files` is empty, else TLS with that certificate. InvalidArgument, naming the
// file, when only one of the two is given, a file cannot be read or holds no PEM certificate or
// key, or the key is not the certificate's.
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsServerFiles& files);

// Plaintext when `ca_file` is empty, else TLS that trusts only servers whose certificate the
// CA in that PEM file signed, for their address's host. InvalidArgument, naming the file, when it
// cannot be read or holds no certificate.
Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const std::string& ca_file);

}  // namespace xpool::rpc
