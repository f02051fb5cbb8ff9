// The scripted fake transport (see fake_transport.h).
#include "installer/transport/fake_transport.h"

#include <condition_variable>
#include <thread>

#include "common/sha256.h"
#include "common/fs.h"

namespace airlock::transport {

class FakeTransport : public Transport {
 public:
  FakeTransport(FakeFactory* f, std::string node, FakeNode script)
      : f_(f), node_(std::move(node)), s_(std::move(script)) {}

  const std::string& node() const override { return node_; }

  Status connect() override {
    if (connected_) return {};
    if (!wait(s_.connect_delay)) return make_error(Errc::kCancelled, node_ + ": cancelled");
    {
      std::lock_guard lk(f_->mu_);
      f_->records_[node_].connects++;
    }
    if (s_.connect_error) return *s_.connect_error;
    connected_ = true;
    return {};
  }

  Result<ExecResult> exec(const std::vector<std::string>& argv, const ExecOptions& opts) override {
    if (cancelled_) return make_error(Errc::kCancelled, node_ + ": cancelled");
    {
      std::lock_guard lk(f_->mu_);
      f_->records_[node_].execs.push_back(argv);
    }
    if (s_.exec_error) return *s_.exec_error;
    int now = ++f_->running_;
    int prev = f_->max_concurrent_.load();
    while (now > prev && !f_->max_concurrent_.compare_exchange_weak(prev, now)) {
    }
    bool finished = wait(std::min(s_.exec_delay, opts.timeout));
    --f_->running_;
    if (!finished) return make_error(Errc::kCancelled, node_ + ": cancelled");
    if (s_.exec_delay > opts.timeout) {
      ExecResult r;
      r.exit_code = 124;
      r.timed_out = true;
      return r;
    }
    if (s_.on_exec) return s_.on_exec(node_, argv, opts.stdin_data);
    ExecResult r;
    r.exit_code = 0;
    r.out = node_ + ":";
    for (const auto& a : argv) r.out += " " + a;
    r.out += "\n";
    return r;
  }

  Result<uint64_t> upload(const std::string& local_path, const std::string& remote_path,
                          const std::string& sha256_hex, int mode) override {
    if (cancelled_) return make_error(Errc::kCancelled, node_ + ": cancelled");
    if (s_.exec_error) return *s_.exec_error;
    std::lock_guard lk(f_->mu_);
    auto& rec = f_->records_[node_];
    auto it = rec.files.find(remote_path);
    if (it != rec.files.end() && it->second == sha256_hex) return uint64_t{0};
    TRY_ASSIGN(std::string data, read_file(local_path));
    rec.files[remote_path] = sha256_hex;
    rec.bytes_uploaded += data.size();
    return uint64_t{data.size()};
  }

  void cancel() override {
    {
      std::lock_guard lk(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    std::lock_guard lk(f_->mu_);
    f_->records_[node_].cancelled = true;
  }

 private:
  // Sleeps for d unless cancelled; false when cancelled.
  bool wait(std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [&] { return cancelled_.load(); });
    return !cancelled_;
  }

  FakeFactory* f_;
  std::string node_;
  FakeNode s_;
  bool connected_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
};

void FakeFactory::script(const std::string& node, FakeNode n) {
  std::lock_guard lk(mu_);
  scripts_[node] = std::move(n);
}

std::unique_ptr<Transport> FakeFactory::open(const inventory::Host& host) {
  std::lock_guard lk(mu_);
  auto it = scripts_.find(host.name);
  return std::make_unique<FakeTransport>(this, host.name, it == scripts_.end() ? FakeNode{} : it->second);
}

FakeRecord FakeFactory::record(const std::string& node) const {
  std::lock_guard lk(mu_);
  auto it = records_.find(node);
  return it == records_.end() ? FakeRecord{} : it->second;
}

}  // namespace airlock::transport
