#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "remote/module_image.h"
#include "remote/wire.h"

namespace xpool::remote {
namespace {

TEST(RemoteWire, HeaderRoundTripsAndRefusesUnknownOpsAndHugeFrames) {
  uint8_t bytes[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{1234, Op::kLaunchKernel, kWantsReply, 99}, bytes);
  auto h = DecodeHeader(bytes);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->payload_bytes, 1234u);
  EXPECT_EQ(h->op, Op::kLaunchKernel);
  EXPECT_EQ(h->flags, kWantsReply);
  EXPECT_EQ(h->sequence, 99u);

  EncodeHeader(FrameHeader{kMaxFramePayload + 1, Op::kMemAlloc, 0, 1}, bytes);
  EXPECT_FALSE(DecodeHeader(bytes).ok());
  const uint16_t unknown = 9;  // between the control ops and the calls
  EncodeHeader(FrameHeader{0, Op::kMemAlloc, 0, 1}, bytes);
  std::memcpy(bytes + 4, &unknown, 2);
  EXPECT_FALSE(DecodeHeader(bytes).ok());
}

TEST(RemoteWire, HelloRoundTripsAndNamesAVersionMismatch) {
  Hello hello;
  hello.credential = "cred";
  hello.client_pid = 42;
  hello.client_host = "node-a";
  hello.gpu_memory = "8Gi";
  hello.gpu_core = "30";
  std::vector<uint8_t> bytes;
  EncodeHello(hello, &bytes);
  auto back = DecodeHello(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->credential, "cred");
  EXPECT_EQ(back->client_pid, 42u);
  EXPECT_EQ(back->gpu_memory, "8Gi");
  EXPECT_EQ(back->gpu_core, "30");

  // Every truncation is refused, never read past its end.
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeHello(bytes.data(), n).ok()) << n;
  hello.version = kProtocolVersion + 1;
  bytes.clear();
  EncodeHello(hello, &bytes);
  auto newer = DecodeHello(bytes.data(), bytes.size());
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("protocol version"), std::string::npos);
}

TEST(RemoteWire, WelcomeCarriesTheDevice) {
  Welcome w;
  w.device.driver_version = 13000;
  w.device.name = "NVIDIA H100 80GB HBM3";
  w.device.uuid[15] = 7;
  w.device.total_memory = 8ull << 30;
  w.device.attributes = {0, 1024, -5};
  std::vector<uint8_t> bytes;
  EncodeWelcome(w, &bytes);
  auto back = DecodeWelcome(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->device.name, w.device.name);
  EXPECT_EQ(back->device.uuid[15], 7);
  EXPECT_EQ(back->device.total_memory, 8ull << 30);
  EXPECT_EQ(back->device.attributes, w.device.attributes);
  bytes.push_back(0);  // trailing garbage
  EXPECT_FALSE(DecodeWelcome(bytes.data(), bytes.size()).ok());
}

TEST(RemoteWire, LaunchKeepsItsParameterBytes) {
  const char params[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Launch l;
  l.function = 77;
  l.grid[0] = 128;
  l.block[0] = 256;
  l.shared_bytes = 1024;
  l.stream = 16;
  l.params = std::string_view(params, sizeof(params));
  std::vector<uint8_t> bytes;
  EncodeLaunch(l, &bytes);
  auto back = DecodeLaunch(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->function, 77u);
  EXPECT_EQ(back->grid[0], 128u);
  EXPECT_EQ(back->block[0], 256u);
  EXPECT_EQ(back->stream, 16u);
  EXPECT_EQ(back->params, l.params);
  EXPECT_FALSE(DecodeLaunch(bytes.data(), bytes.size() - 1).ok());
}

TEST(RemoteWire, ParamLayoutBufferEndsAtTheLastParameter) {
  ParamLayout p;
  p.params = {{0, 8}, {8, 8}, {16, 4}, {20, 4}};
  EXPECT_EQ(p.BufferBytes(), 24u);
  std::vector<uint8_t> bytes;
  EncodeParamLayout(p, &bytes);
  Reader r(bytes.data(), bytes.size());
  auto back = DecodeParamLayout(&r);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->params.size(), 4u);
  EXPECT_EQ(back->params[3].offset, 20u);
}

TEST(ModuleImage, MeasuresTextFatbinAndElf) {
  const char ptx[] = "//\n.version 8.0\n";
  auto text = MeasureModuleImage(ptx, sizeof(ptx));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->bytes, sizeof(ptx));
  EXPECT_FALSE(MeasureModuleImage(ptx, sizeof(ptx) - 1).ok());  // no NUL within reach

  std::vector<uint8_t> fatbin(16 + 100, 0);
  const uint32_t magic = 0xBA55ED50;
  const uint16_t version = 1, header = 16;
  const uint64_t body = 100;
  std::memcpy(fatbin.data(), &magic, 4);
  std::memcpy(fatbin.data() + 4, &version, 2);
  std::memcpy(fatbin.data() + 6, &header, 2);
  std::memcpy(fatbin.data() + 8, &body, 8);
  auto fb = MeasureModuleImage(fatbin.data(), fatbin.size());
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(fb->bytes, 116u);
  EXPECT_FALSE(MeasureModuleImage(fatbin.data(), 115).ok());

  // A 64-bit ELF with one 64-byte section header at 512 describing bytes [64, 300).
  std::vector<uint8_t> elf(1024, 0);
  std::memcpy(elf.data(),
              "\x7f"
              "ELF",
              4);
  elf[4] = 2;
  const uint64_t shoff = 512;
  const uint16_t shentsize = 64, shnum = 1;
  std::memcpy(elf.data() + 0x28, &shoff, 8);
  std::memcpy(elf.data() + 0x3A, &shentsize, 2);
  std::memcpy(elf.data() + 0x3C, &shnum, 2);
  const uint64_t off = 64, size = 236;
  std::memcpy(elf.data() + 512 + 0x18, &off, 8);
  std::memcpy(elf.data() + 512 + 0x20, &size, 8);
  auto e = MeasureModuleImage(elf.data(), elf.size());
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->bytes, 576u);  // the section header table ends last
}

}  // namespace
}  // namespace xpool::remote
