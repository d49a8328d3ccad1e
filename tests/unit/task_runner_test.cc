#include "agent/task_runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace xpool::agent {
namespace {

// A task whose end the controller hears of (and the agent forgets) while a caller still streams
// its output: the stream still ends with the exit status, and the folder goes afterwards.
TEST(TaskRunnerTest, AStreamedTaskIsForgottenOnlyAfterItsStreamEnds) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("xpool-task-runner-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  TaskOptions options;
  options.state_dir = dir.string();
  if (geteuid() == 0) options.run_as = "nobody";
  auto runner = TaskRunner::Create(options);
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  v1::Allocation a;
  a.set_id("a1");
  ASSERT_TRUE((*runner)->Start(a, {"sh", "-c", "sleep 0.2; echo done"}).ok());

  std::string out;
  bool forgot = false;
  const auto t0 = std::chrono::steady_clock::now();
  auto code = (*runner)->Stream(
      "a1", 0, 0, [&](int, const std::string& chunk) { out += chunk; },
      [&] {
        // The heartbeat reports the end and the agent forgets the task before the stream looks.
        while (!forgot) {
          auto reports = (*runner)->Reports();
          if (!reports.empty() && !reports[0].running()) {
            (*runner)->Forget(reports);
            forgot = true;
          } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
        }
        return std::chrono::steady_clock::now() - t0 > std::chrono::seconds(3);
      });
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(out, "done\n");
  EXPECT_TRUE(std::filesystem::exists(dir / "a1"));
  (*runner)->Forget((*runner)->Reports());  // the next heartbeat's report
  EXPECT_FALSE(std::filesystem::exists(dir / "a1"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xpool::agent
