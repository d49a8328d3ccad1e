// libFuzzer target: the remote protocol's decoders, which read what arrives from the network
// (frame headers, the client's hello, the server's welcome, launches, parameter layouts) and the
// module-image measurer, which reads a program's image. No input may crash them or make them
// read past their input; what decodes must encode back to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "remote/module_image.h"
#include "remote/wire.h"

using namespace xpool::remote;  // NOLINT(google-build-using-namespace): a fuzz target

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= kFrameHeaderBytes) {
    auto h = DecodeHeader(data);
    if (h.ok() && h->payload_bytes > kMaxFramePayload) std::abort();
  }
  if (auto hello = DecodeHello(data, size); hello.ok()) {
    std::vector<uint8_t> again;
    EncodeHello(*hello, &again);
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  }
  if (auto welcome = DecodeWelcome(data, size); welcome.ok()) {
    std::vector<uint8_t> again;
    EncodeWelcome(*welcome, &again);
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  }
  if (auto launch = DecodeLaunch(data, size); launch.ok()) {
    std::vector<uint8_t> again;
    EncodeLaunch(*launch, &again);
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  }
  Reader r(data, size);
  if (auto layout = DecodeParamLayout(&r); layout.ok()) (void)layout->BufferBytes();
  if (auto image = MeasureModuleImage(data, size); image.ok() && image->bytes > size) std::abort();
  return 0;
}
