#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "store/store.h"

namespace xpool::store {
namespace {

// One table `records(tbl, key, value)`; statements are prepared once.
class SqliteStore final : public Store {
 public:
  // `lock_fd`: the data directory's lock, held for as long as the store is open.
  SqliteStore(sqlite3* db, int lock_fd) : db_(db), lock_fd_(lock_fd) {}
  ~SqliteStore() override {
    for (sqlite3_stmt* s : {put_, del_, scan_}) sqlite3_finalize(s);
    sqlite3_close(db_);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
  }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status Prepare() {
    const char* schema =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS records ("
        "  tbl TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (tbl, key));";
    if (sqlite3_exec(db_, schema, nullptr, nullptr, nullptr) != SQLITE_OK) return Error("schema");
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO records VALUES (?1, ?2, ?3)", -1, &put_,
                           nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "DELETE FROM records WHERE tbl = ?1 AND key = ?2", -1, &del_,
                           nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "SELECT key, value FROM records WHERE tbl = ?1 ORDER BY key", -1,
                           &scan_, nullptr) != SQLITE_OK) {
      return Error("prepare");
    }
    return Status::Ok();
  }

  Status Apply(const std::vector<Mutation>& batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Error("begin");
    }
    for (const Mutation& m : batch) {
      Status s = m.erase ? DeleteLocked(m.table, m.key) : PutLocked(m.table, m.key, m.value);
      if (!s.ok()) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return s;
      }
    }
    // One commit, so one sync of the log, for the whole batch.
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      Status s = Error("commit");
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
    return Status::Ok();
  }

  Status Put(const std::string& table, const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> lock(mu_);
    return PutLocked(table, key, value);
  }

  Status Delete(const std::string& table, const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return DeleteLocked(table, key);
  }

 private:
  Status PutLocked(const std::string& table, const std::string& key, const std::string& value) {
    sqlite3_reset(put_);
    sqlite3_bind_text(put_, 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
    sqlite3_bind_text(put_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put_, 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    return sqlite3_step(put_) == SQLITE_DONE ? Status::Ok() : Error("write " + table + "/" + key);
  }

  Status DeleteLocked(const std::string& table, const std::string& key) {
    sqlite3_reset(del_);
    sqlite3_bind_text(del_, 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
    sqlite3_bind_text(del_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    return sqlite3_step(del_) == SQLITE_DONE ? Status::Ok() : Error("delete " + table + "/" + key);
  }

 public:
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& table) override {
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_reset(scan_);
    sqlite3_bind_text(scan_, 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
    std::vector<std::pair<std::string, std::string>> rows;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(scan_)) == SQLITE_ROW) {
      const auto* key = reinterpret_cast<const char*>(sqlite3_column_text(scan_, 0));
      const auto* value = static_cast<const char*>(sqlite3_column_blob(scan_, 1));
      rows.emplace_back(std::string(key, sqlite3_column_bytes(scan_, 0)),
                        std::string(value == nullptr ? "" : value,
                                    value == nullptr ? 0 : sqlite3_column_bytes(scan_, 1)));
    }
    if (rc != SQLITE_DONE) return Error("read " + table);
    return rows;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::IoError("store: " + what + ": " + sqlite3_errmsg(db_));
  }

  std::mutex mu_;
  sqlite3* db_;
  int lock_fd_ = -1;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
};

// One writer per store: a second controller on the same data directory would acknowledge
// allocations the first one does not see (two writers handed out 8 whole GPUs of a 4-GPU node).
// The lock is the kernel's (flock), so it goes with the process that held it, even on kill -9.
Result<int> LockDataDirectory(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError("cannot open '" + path + "': " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder;
    std::ifstream(path) >> holder;
    close(fd);
    if (error == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          "data directory '" + dir + "' is in use by another xpool-controller" +
          (holder.empty() ? std::string() : " (pid " + holder + ")") +
          ": one controller writes a store; stop it first, or give another --data");
    }
    return Status::IoError("cannot lock '" + path + "': " + std::strerror(error));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is for the message above only; the lock holds without it.
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create data directory '" + dir + "': " + ec.message());
  auto lock = LockDataDirectory(dir);
  if (!lock.ok()) return lock.status();
  const std::string path = dir + "/xpool.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    close(*lock);
    return Status::IoError("cannot open store '" + path + "': " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteStore>(db, *lock);
  if (Status s = store->Prepare(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace xpool::store
