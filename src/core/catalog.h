// The built-in device catalog: for each known accelerator model its type, vendor, memory and
// compute rating, with the public document each figure comes from. Models the catalog does not
// know (the Alibaba trace's G2/G3, a site's own FPGA) take their rating from the inventory.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"

namespace xpool {

struct CatalogEntry {
  std::string_view model;    // canonical name, e.g. "H100-SXM"
  std::string_view aliases;  // comma-separated other spellings (trace codes, nvidia-smi names)
  DeviceType type;
  std::string_view vendor;
  std::string_view architecture;
  ComputeRating rating;
  std::string_view source;  // where the figures are published
};

// All catalog entries, in a stable order.
std::span<const CatalogEntry> Catalog();

// Finds a model by canonical name or alias, case-insensitively; nullptr when unknown.
const CatalogEntry* FindModel(std::string_view name);

// The rating to use for a device: the catalog's when the model is known, else `inventory`.
ComputeRating RatingFor(std::string_view model, const ComputeRating& inventory);

}  // namespace xpool
