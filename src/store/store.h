// Store: the controller's durable state, as records (a key and an opaque value) in named tables.
// Every Put or Delete is durable when it returns OK, so a crash right after loses nothing that
// was acknowledged. Backends: SQLite (embedded, the default); etcd later.
//
// Thread-safety: a Store may be used from several threads.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace xpool::store {

// One change of a batch: a Put, or a Delete when `erase`.
struct Mutation {
  std::string table;
  std::string key;
  std::string value;
  bool erase = false;
};

class Store {
 public:
  virtual ~Store() = default;
  // All of `batch` durably, or (on error) none of it.
  virtual Status Apply(const std::vector<Mutation>& batch) = 0;
  virtual Status Put(const std::string& table, const std::string& key,
                     const std::string& value) = 0;
  virtual Status Delete(const std::string& table, const std::string& key) = 0;
  // Every record of the table, ordered by key.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Scan(
      const std::string& table) = 0;
};

// Opens (creating if needed) the SQLite store in `dir` (file `xpool.db`, write-ahead log).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir);

}  // namespace xpool::store
