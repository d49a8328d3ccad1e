// xpool-controller: holds the pool, schedules allocations, keeps them durable (docs/standalone.md).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>

#include "controller/service.h"
#include "core/address.h"
#include "core/signals.h"

namespace {
std::atomic<xpool::controller::Controller*> g_controller{nullptr};
}  // namespace

int main(int argc, char** argv) {
  // The extender's requests and answers run to hundreds of KiB. Above glibc's mmap threshold
  // each such buffer would be mapped and unmapped per request, and trimmed heaps given back,
  // at a page fault per 4 KiB on the next request: this doubled an answer's time. Keep them.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app{"xpool-controller: the pool's API, scheduler and durable state"};
  app.set_version_flag("--version", "xpool-controller " XPOOL_VERSION);
  xpool::controller::ServeOptions serve;
  std::string data = "xpool-data";
  serve.http_listen = "127.0.0.1:7071";
  std::string join_token_file, users_file, kube_api;
  xpool::controller::KubeOptions kube;
  auto& resources = serve.resources;
  app.add_option("--gpu-resource", resources.gpu, "extender: the GPU resource")
      ->capture_default_str();
  app.add_option("--gpu-memory-resource", resources.memory, "extender: MiB per GPU")
      ->capture_default_str();
  app.add_option("--gpu-core-resource", resources.core, "extender: percent of a GPU")
      ->capture_default_str();
  xpool::controller::ControllerOptions options;
  app.add_option("--listen", serve.listen, "API address (loopback)")->capture_default_str();
  app.add_option("--tls-cert", serve.tls.cert,
                 "serve the API over TLS with this certificate (PEM, with its chain)");
  app.add_option("--tls-key", serve.tls.key, "the API certificate's private key (PEM)");
  app.add_option("--data", data, "data directory (SQLite store)")->capture_default_str();
  app.add_option("--metrics,--http", serve.http_listen,
                 "address of /metrics and the scheduler extender's /scheduler/* (HTTP; empty: off)")
      ->capture_default_str();
  app.add_option("--metrics-listen", serve.metrics_listen,
                 "serve /metrics here alone (plain HTTP), and not on --http (Prometheus then needs "
                 "no extender client certificate)");
  app.add_option("--http-max-body", serve.http_limits.max_body_bytes,
                 "larger request bodies on --http are refused (413) unread, bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  app.add_option("--http-workers", serve.http_limits.workers, "connections --http serves at once")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  app.add_option("--http-tls-cert", serve.http_tls_cert,
                 "serve --http over HTTPS with this certificate (PEM)");
  app.add_option("--http-tls-key", serve.http_tls_key, "the certificate's private key (PEM)");
  app.add_option("--http-client-ca", serve.http_client_ca,
                 "with HTTPS: answer only clients whose certificate this CA signed (PEM)");
  bool http_insecure = false;
  app.add_flag("--http-insecure", http_insecure,
               "with --kube-api, serve the scheduler extender off loopback without HTTPS and a "
               "client CA (its bind verb binds pods with the controller's rights)");
  app.add_option("--join-token-file", join_token_file,
                 "the cluster's join token, which agents present (needed off loopback)");
  app.add_option("--users-file", users_file,
                 "users' tokens, '<token> <user>' per line (needed off loopback)");
  app.add_option("--kube-api", kube_api,
                 "bind pods and watch them through this Kubernetes API: 'in-cluster' (the "
                 "service account's) or https://HOST:PORT");
  app.add_option("--kube-token-file", kube.token_file,
                 "with --kube-api https://...: the bearer token's file");
  app.add_option("--kube-ca-file", kube.ca_file,
                 "with --kube-api https://...: the CA of the API server's certificate");
  std::string tenants_file;
  int64_t preemption_grace_s = 30;
  app.add_option("--preemption-grace-s", preemption_grace_s,
                 "a preempted slice's tasks get SIGTERM, then this long before it is released")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tenants", tenants_file,
                 "tenants, their guarantees and limits, priority classes (YAML; read again on "
                 "SIGHUP)");
  app.add_option("--policy", options.policy, "scheduling policy")->capture_default_str();
  app.add_option("--lease-ms", options.lease_ms, "a node silent this long loses its allocations")
      ->capture_default_str();
  // Fractions allowed (0.25: a quarter of an hour), for short retention in tests and soaks.
  double keep_released_hours = static_cast<double>(options.keep_released_ms) / 3'600'000;
  int64_t reservation_timeout_s = options.reservation_timeout_ms / 1000;
  app.add_option("--reservation-timeout-s", reservation_timeout_s,
                 "an allocation on which no task started this long after it was made (and not a "
                 "Kubernetes pod's) is released (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600));
  app.add_option("--keep-released-hours", keep_released_hours,
                 "released allocations are forgotten this long after release (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code() == 0 ? app.exit(e) : (app.exit(e), 2);
  }
  if (!tenants_file.empty()) {
    auto tenancy = xpool::controller::LoadTenancy(tenants_file);
    if (!tenancy.ok()) {
      std::fprintf(stderr, "xpool-controller: %s\n", tenancy.status().message().c_str());
      return 2;
    }
    options.tenancy = std::move(*tenancy);
  }
  // A bad file on reload keeps the configuration in force: the pool goes on as it was.
  xpool::OnReloadSignal([tenants_file] {
    if (tenants_file.empty()) return;
    auto tenancy = xpool::controller::LoadTenancy(tenants_file);
    if (!tenancy.ok()) {
      std::fprintf(stderr,
                   "xpool-controller: tenants file not reloaded, the previous one stays in "
                   "force: %s\n",
                   tenancy.status().message().c_str());
      return;
    }
    const size_t count = tenancy->tenants.size();
    if (auto* running = g_controller.load()) running->SetTenancy(std::move(*tenancy));
    std::fprintf(stderr, "xpool-controller: tenants file %s reloaded: %zu tenants\n",
                 tenants_file.c_str(), count);
  });
  xpool::OnTerminationSignal([] {
    if (auto* running = g_controller.load()) running->Shutdown();
  });
  auto auth = xpool::controller::Auth::Load(join_token_file, users_file);
  if (!auth.ok()) {
    std::fprintf(stderr, "xpool-controller: %s\n", auth.status().message().c_str());
    return 2;
  }
  serve.auth = *auth;
  options.keep_released_ms = static_cast<int64_t>(keep_released_hours * 3'600'000);
  options.reservation_timeout_ms = reservation_timeout_s * 1000;
  options.preemption_grace_ms = preemption_grace_s * 1000;
  if (kube_api == "in-cluster") {
    auto in_cluster = xpool::controller::InClusterKubeOptions();
    if (!in_cluster.ok()) {
      std::fprintf(stderr, "xpool-controller: %s\n", in_cluster.status().message().c_str());
      return 2;
    }
    serve.kube = *in_cluster;
  } else if (!kube_api.empty()) {
    kube.server = kube_api;
    serve.kube = kube;
  }
  if (!kube_api.empty() && !serve.http_listen.empty() &&
      !xpool::IsLoopbackHost(xpool::HostOf(serve.http_listen)) && !http_insecure &&
      (serve.http_tls_cert.empty() || serve.http_client_ca.empty())) {
    std::fprintf(stderr,
                 "xpool-controller: the scheduler extender on %s binds pods with the controller's "
                 "rights: serve it over HTTPS that only kube-scheduler's client certificate may "
                 "call (--http-tls-cert, --http-tls-key, --http-client-ca), or on loopback, or "
                 "pass --http-insecure\n",
                 serve.http_listen.c_str());
    return 2;
  }
  auto controller = xpool::controller::Controller::Start(data, options, serve);
  if (!controller.ok()) {
    std::fprintf(stderr, "xpool-controller: %s\n", controller.status().message().c_str());
    return 2;
  }
  g_controller = controller->get();
  std::printf("xpool-controller: listening on %s%s, data in %s, policy %s\n",
              (*controller)->address().c_str(), serve.tls.empty() ? "" : " (TLS)", data.c_str(),
              options.policy.c_str());
  if (serve.tls.empty() && !xpool::IsLoopbackHost(xpool::HostOf(serve.listen))) {
    std::fprintf(stderr,
                 "xpool-controller: tokens travel in plaintext on %s: give --tls-cert and "
                 "--tls-key, or keep the network private\n",
                 (*controller)->address().c_str());
  }
  const bool metrics_apart = !serve.metrics_listen.empty();
  if (!(*controller)->metrics_address().empty()) {
    std::printf("xpool-controller: metrics on http%s://%s/metrics\n",
                serve.http_tls_cert.empty() || metrics_apart ? "" : "s",
                (*controller)->metrics_address().c_str());
  }
  if (metrics_apart && !(*controller)->http_address().empty()) {
    std::printf("xpool-controller: scheduler extender on http%s://%s/scheduler\n",
                serve.http_tls_cert.empty() ? "" : "s", (*controller)->http_address().c_str());
  }
  if (serve.kube) {
    std::printf("xpool-controller: binding and watching pods through %s\n",
                serve.kube->server.c_str());
  }
  std::fflush(stdout);
  (*controller)->Wait();
  return 0;
}
