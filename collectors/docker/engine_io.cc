#include "engine_io.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "engine_client.h"

namespace wmeta::docker {
namespace {

using collectors::Exchange;
using collectors::InputRecorder;
using collectors::InputReplay;

class LiveIo final : public EngineIo {
 public:
  LiveIo(std::string socket, std::chrono::milliseconds timeout)
      : socket_(std::move(socket)), timeout_(timeout) {}

  Timestamp Now() override { return SystemClock().Now(); }

  Result<std::unique_ptr<EngineConnection>> Connect(
      std::stop_token stop) override {
    return std::make_unique<EngineClient>(socket_, timeout_, std::move(stop));
  }

  std::optional<std::string> ReadFile(const std::string& path) override {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(text).str();
  }

  void Pause(std::stop_token stop,
             std::chrono::steady_clock::time_point deadline) override {
    collectors::SleepUntil(std::move(stop), deadline);
  }

 private:
  std::string socket_;
  std::chrono::milliseconds timeout_;
};

// An exchange of `op` on `key`, answered by `result`'s error if any.
template <typename R>
Exchange Answered(std::string op, std::string key, const R& result) {
  Exchange e;
  e.op = std::move(op);
  e.key = std::move(key);
  if (!result) e.error = result.error();
  return e;
}

Exchange Valued(std::string op, int64_t value) {
  Exchange e;
  e.op = std::move(op);
  e.value = value;
  return e;
}

// Writes each exchange to the recorder while it lasts. Calls a stop cut
// short are not recorded: they say nothing about the engine.
class Recording {
 public:
  explicit Recording(std::unique_ptr<InputRecorder> recorder)
      : recorder_(std::move(recorder)) {}

  // Marks where the collector stopped, when it was: a replay stops there
  // too, also if the live one returned before its next call (it checks the
  // stop between calls).
  ~Recording() {
    if (recorder_ != nullptr && stop_.stop_requested()) {
      (void)recorder_->Write(Valued("stop", 0));
    }
  }

  void Follow(std::stop_token stop) { stop_ = std::move(stop); }

  Status Write(const Exchange& exchange, const std::stop_token& stop) {
    if (recorder_ == nullptr || stop.stop_requested()) return {};
    Status written = recorder_->Write(exchange);
    if (!written) recorder_.reset();
    return written;
  }

 private:
  std::unique_ptr<InputRecorder> recorder_;
  std::stop_token stop_;
};

class RecordingConnection final : public EngineConnection {
 public:
  RecordingConnection(std::unique_ptr<EngineConnection> live,
                      Recording& recording, std::stop_token stop)
      : live_(std::move(live)), recording_(recording), stop_(std::move(stop)) {}

  Result<HttpResponse> Get(const std::string& target) override {
    Result<HttpResponse> response = live_->Get(target);
    Exchange e = Answered("get", target, response);
    if (response) {
      e.status = response->status;
      e.body = response->body;
    }
    WMETA_RETURN_IF_ERROR(recording_.Write(e, stop_));
    return response;
  }

  Status OpenStream(const std::string& target) override {
    Status status = live_->OpenStream(target);
    WMETA_RETURN_IF_ERROR(
        recording_.Write(Answered("open", target, status), stop_));
    return status;
  }

  Result<std::optional<std::string>> NextLine(
      std::chrono::steady_clock::time_point deadline) override {
    auto line = live_->NextLine(deadline);
    Exchange e = Answered("next", "", line);
    if (line) e.body = *line;
    WMETA_RETURN_IF_ERROR(recording_.Write(e, stop_));
    return line;
  }

  bool LineReady() override {
    bool ready = live_->LineReady();
    // A failed write here shows at the next call, which fails too.
    (void)recording_.Write(Valued("ready", ready ? 1 : 0), stop_);
    return ready;
  }

 private:
  std::unique_ptr<EngineConnection> live_;
  Recording& recording_;
  std::stop_token stop_;
};

class RecordingIo final : public EngineIo {
 public:
  RecordingIo(std::unique_ptr<EngineIo> live,
              std::unique_ptr<InputRecorder> recorder)
      : live_(std::move(live)), recording_(std::move(recorder)) {}

  Timestamp Now() override {
    Timestamp now = live_->Now();
    // The time cannot fail; a failed write shows at the next request.
    (void)recording_.Write(Valued("now", ToUnixNanos(now)), {});
    return now;
  }

  Result<std::unique_ptr<EngineConnection>> Connect(
      std::stop_token stop) override {
    WMETA_ASSIGN_OR_RETURN(std::unique_ptr<EngineConnection> live,
                           live_->Connect(stop));
    recording_.Follow(stop);
    WMETA_RETURN_IF_ERROR(recording_.Write(Valued("connect", 0), stop));
    return std::make_unique<RecordingConnection>(std::move(live), recording_,
                                                 std::move(stop));
  }

  std::optional<std::string> ReadFile(const std::string& path) override {
    std::optional<std::string> text = live_->ReadFile(path);
    Exchange e = Answered("read", path, Status());
    e.body = text;
    (void)recording_.Write(e, {});
    return text;
  }

  void Pause(std::stop_token stop,
             std::chrono::steady_clock::time_point deadline) override {
    live_->Pause(std::move(stop), deadline);
  }

 private:
  std::unique_ptr<EngineIo> live_;
  Recording recording_;
};

class ReplayIo;

class ReplayConnection final : public EngineConnection {
 public:
  explicit ReplayConnection(ReplayIo& io) : io_(io) {}
  Result<HttpResponse> Get(const std::string& target) override;
  Status OpenStream(const std::string& target) override;
  Result<std::optional<std::string>> NextLine(
      std::chrono::steady_clock::time_point deadline) override;
  bool LineReady() override;

 private:
  ReplayIo& io_;
};

class ReplayIo final : public EngineIo {
 public:
  ReplayIo(InputReplay& replay, std::stop_source done)
      : replay_(replay), done_(std::move(done)) {}

  // The exchange answering `op` on `key`, or kUnavailable (and the stop, when
  // the recording is used up). Once stopped where the recorded collector was,
  // every call fails as the live ones did.
  Result<const Exchange*> Answer(std::string_view op, std::string_view key) {
    if (done_.stop_requested()) {
      return MakeError(ErrorCode::kUnavailable, "stopped");
    }
    const Exchange* e = Lookup(op, key);
    if (e == nullptr) {
      if (replay_.Done()) done_.request_stop();
      return MakeError(ErrorCode::kUnavailable,
                       "the recording has no answer to " + std::string(op) +
                           (key.empty() ? "" : " " + std::string(key)));
    }
    if (e->error) return std::unexpected(*e->error);
    return e;
  }

  Timestamp Now() override {
    const Exchange* e = Lookup("now", "");
    return e != nullptr ? FromUnixNanos(e->value) : Timestamp();
  }

  Result<std::unique_ptr<EngineConnection>> Connect(std::stop_token) override {
    WMETA_RETURN_IF_ERROR(Answer("connect", ""));
    return std::make_unique<ReplayConnection>(*this);
  }

  std::optional<std::string> ReadFile(const std::string& path) override {
    const Exchange* e = Lookup("read", path);
    return e != nullptr ? e->body : std::nullopt;
  }

  void Pause(std::stop_token, std::chrono::steady_clock::time_point) override {}

 private:
  const Exchange* Lookup(std::string_view op, std::string_view key) {
    const Exchange* e = replay_.Answer(op, key);
    if (replay_.AtStop()) done_.request_stop();
    return e;
  }

  InputReplay& replay_;
  std::stop_source done_;
};

Result<HttpResponse> ReplayConnection::Get(const std::string& target) {
  WMETA_ASSIGN_OR_RETURN(const Exchange* e, io_.Answer("get", target));
  return HttpResponse{e->status, e->body.value_or("")};
}

Status ReplayConnection::OpenStream(const std::string& target) {
  WMETA_RETURN_IF_ERROR(io_.Answer("open", target));
  return {};
}

Result<std::optional<std::string>> ReplayConnection::NextLine(
    std::chrono::steady_clock::time_point) {
  WMETA_ASSIGN_OR_RETURN(const Exchange* e, io_.Answer("next", ""));
  return e->body;
}

bool ReplayConnection::LineReady() {
  auto e = io_.Answer("ready", "");
  return e && (*e)->value != 0;
}

}  // namespace

std::unique_ptr<EngineIo> LiveEngineIo(std::string socket,
                                       std::chrono::milliseconds timeout) {
  return std::make_unique<LiveIo>(std::move(socket), timeout);
}

std::unique_ptr<EngineIo> RecordingEngineIo(
    std::unique_ptr<EngineIo> io, std::unique_ptr<InputRecorder> recorder) {
  return std::make_unique<RecordingIo>(std::move(io), std::move(recorder));
}

std::unique_ptr<EngineIo> ReplayEngineIo(InputReplay& replay,
                                         std::stop_source done) {
  return std::make_unique<ReplayIo>(replay, std::move(done));
}

}  // namespace wmeta::docker
