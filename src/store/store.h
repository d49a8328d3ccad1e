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

class Store {
 public:
  virtual ~Store() = default;
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
