#include "core/catalog.h"

#include <algorithm>
#include <cctype>

namespace xpool {
namespace {

constexpr DeviceType G = DeviceType::kGpu;
constexpr DeviceType N = DeviceType::kNpu;

// Figures are dense (no structured sparsity). bf16 0 = no bf16 in hardware.
constexpr CatalogEntry kEntries[] = {
    {"H200",
     "H200-SXM,NVIDIA H200",
     G,
     "nvidia",
     "hopper",
     {989.5, 989.5, 67.0, 141, 4800},
     "NVIDIA H200 Tensor Core GPU datasheet (2024), SXM column; sparse figures halved"},
    {"H100-SXM",
     "H100,H100-SXM5-80GB,NVIDIA H100 80GB HBM3",
     G,
     "nvidia",
     "hopper",
     {989.4, 989.4, 67.0, 80, 3350},
     "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 SXM column; sparse figures halved"},
    {"H100-PCIe",
     "H100-PCIE-80GB,NVIDIA H100 PCIe",
     G,
     "nvidia",
     "hopper",
     {756.0, 756.0, 51.0, 80, 2000},
     "NVIDIA H100 Tensor Core GPU datasheet (2023), H100 PCIe column; sparse figures halved"},
    {"H800",
     "H800-SXM,NVIDIA H800",
     G,
     "nvidia",
     "hopper",
     {989.4, 989.4, 67.0, 80, 3350},
     "NVIDIA H800 Tensor Core GPU datasheet (2023), SXM column; sparse figures halved"},
    {"A100-80GB",
     "A100,A100-SXM4-80GB,NVIDIA A100-SXM4-80GB",
     G,
     "nvidia",
     "ampere",
     {312.0, 312.0, 19.5, 80, 2039},
     "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 80GB SXM column"},
    {"A100-40GB",
     "A100-SXM4-40GB,NVIDIA A100-SXM4-40GB",
     G,
     "nvidia",
     "ampere",
     {312.0, 312.0, 19.5, 40, 1555},
     "NVIDIA A100 Tensor Core GPU datasheet (2021), A100 40GB column"},
    {"A800",
     "A800-SXM4-80GB,NVIDIA A800",
     G,
     "nvidia",
     "ampere",
     {312.0, 312.0, 19.5, 80, 2039},
     "NVIDIA A800 Tensor Core GPU datasheet (2022), A800 80GB SXM column"},
    {"L40S",
     "NVIDIA L40S",
     G,
     "nvidia",
     "ada",
     {362.05, 362.05, 91.6, 48, 864},
     "NVIDIA L40S GPU datasheet (2023); sparse figures halved"},
    {"L4",
     "NVIDIA L4",
     G,
     "nvidia",
     "ada",
     {121.0, 121.0, 30.3, 24, 300},
     "NVIDIA L4 Tensor Core GPU datasheet (2023); sparse figures halved"},
    {"A10",
     "NVIDIA A10",
     G,
     "nvidia",
     "ampere",
     {125.0, 125.0, 31.2, 24, 600},
     "NVIDIA A10 Tensor Core GPU datasheet (2021); sparse figures halved"},
    {"T4",
     "Tesla-T4,Tesla T4",
     G,
     "nvidia",
     "turing",
     {0, 65.0, 8.1, 16, 320},
     "NVIDIA T4 Tensor Core GPU datasheet (2019): 65 TFLOPS mixed fp16, 8.1 fp32"},
    {"V100-16GB",
     "V100M16,Tesla-V100-SXM2-16GB",
     G,
     "nvidia",
     "volta",
     {0, 125.0, 15.7, 16, 900},
     "NVIDIA V100 Tensor Core GPU datasheet (2020), V100 SXM2 column"},
    {"V100-32GB",
     "V100M32,Tesla-V100-SXM2-32GB",
     G,
     "nvidia",
     "volta",
     {0, 125.0, 15.7, 32, 900},
     "NVIDIA V100 Tensor Core GPU datasheet (2020), V100 SXM2 column"},
    {"P100",
     "Tesla-P100-PCIE-16GB",
     G,
     "nvidia",
     "pascal",
     {0, 18.7, 9.3, 16, 732},
     "NVIDIA Tesla P100 datasheet (2016), PCIe 16GB column"},
    {"K80",
     "Tesla-K80",
     G,
     "nvidia",
     "kepler",
     {0, 0, 4.37, 12, 240},
     "NVIDIA Tesla K80 datasheet (2014): per board 8.73 TFLOPS fp32 boost, 24 GB, 480 GB/s, two "
     "GPUs; figures here are per GPU"},
    {"MI300X",
     "AMD Instinct MI300X",
     G,
     "amd",
     "cdna3",
     {1307.4, 1307.4, 163.4, 192, 5300},
     "AMD Instinct MI300X accelerator data sheet (2023); sparse figures halved"},
    {"MI250X",
     "AMD Instinct MI250X",
     G,
     "amd",
     "cdna2",
     {383.0, 383.0, 47.9, 128, 3276.8},
     "AMD Instinct MI250X accelerator data sheet (2021); fp32 vector"},
    {"Ascend-910B",
     "910B,Ascend910B",
     N,
     "huawei",
     "davinci",
     {313.0, 313.0, 0, 64, 1600},
     "Huawei Ascend 910B (910B3) figures as published by vendor partners (2023); fp32 not "
     "published"},
    {"MLU370",
     "MLU370-X8",
     N,
     "cambricon",
     "mlu03",
     {96.0, 96.0, 24.0, 48, 614.4},
     "Cambricon MLU370-X8 product page (2022)"},
    {"cpu", "", DeviceType::kCpu, "generic", "", {}, "generic CPU: rating from the inventory"},
    {"fpga", "", DeviceType::kFpga, "generic", "", {}, "generic FPGA: rating from the inventory"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool MatchesAlias(std::string_view aliases, std::string_view name) {
  while (!aliases.empty()) {
    const auto comma = aliases.find(',');
    if (EqualsIgnoreCase(aliases.substr(0, comma), name)) return true;
    if (comma == std::string_view::npos) break;
    aliases.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::span<const CatalogEntry> Catalog() {
  return kEntries;
}

const CatalogEntry* FindModel(std::string_view name) {
  for (const auto& e : kEntries) {
    if (EqualsIgnoreCase(e.model, name) || MatchesAlias(e.aliases, name)) return &e;
  }
  return nullptr;
}

ComputeRating RatingFor(std::string_view model, const ComputeRating& inventory) {
  const CatalogEntry* e = FindModel(model);
  const bool generic = e == nullptr || e->vendor == "generic";
  return generic ? inventory : e->rating;
}

}  // namespace xpool
