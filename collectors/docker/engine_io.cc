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

  Result<std::vector<std::string>> Known(collectors::Sink& sink, Kind kind,
                                         std::string_view source) override {
    return sink.Known(kind, source);
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

std::string KnownKey(Kind kind, std::string_view source) {
  return std::string(KindName(kind)) + " " + std::string(source);
}

std::string JoinLines(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += id + "\n";
  return out;
}

Exchange Valued(std::string op, int64_t value) {
  Exchange e;
  e.op = std::move(op);
  e.value = value;
  return e;
}

// Writes each exchange to the recorder while it lasts.
class Recording {
 public:
  explicit Recording(std::unique_ptr<InputRecorder> recorder)
      : recorder_(std::move(recorder)) {}

  // Marks where the collector stopped, when it was: a replay stops there
  // too, also where the live one returned before its next call (it checks
  // the stop between calls).
  ~Recording() {
    if (recorder_ != nullptr && stop_.stop_requested()) {
      (void)recorder_->Write(Valued("stop", 0));
    }
  }

  void Follow(std::stop_token stop) { stop_ = std::move(stop); }

  // Records `exchange`, unless it failed because of the stop: that says
  // nothing about the source. A failed write ends the recording; its error
  // is for the next call that can fail (TakeFailure).
  void Write(const Exchange& exchange) {
    if (recorder_ == nullptr || (exchange.error && stop_.stop_requested())) {
      return;
    }
    Status written = recorder_->Write(exchange);
    if (!written) {
      failure_ = written.error();
      recorder_.reset();
    }
  }

  // The error of a failed write not reported yet, once.
  Status TakeFailure() {
    if (!failure_) return {};
    Error error = std::move(*failure_);
    failure_.reset();
    return std::unexpected(std::move(error));
  }

 private:
  std::unique_ptr<InputRecorder> recorder_;
  std::stop_token stop_;
  std::optional<Error> failure_;
};

class RecordingConnection final : public EngineConnection {
 public:
  RecordingConnection(std::unique_ptr<EngineConnection> live,
                      Recording& recording)
      : live_(std::move(live)), recording_(recording) {}

  Result<HttpResponse> Get(const std::string& target) override {
    Result<HttpResponse> response = live_->Get(target);
    Exchange e = Answered("get", target, response);
    if (response) {
      e.status = response->status;
      e.body = response->body;
    }
    recording_.Write(e);
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    return response;
  }

  Status OpenStream(const std::string& target) override {
    Status status = live_->OpenStream(target);
    recording_.Write(Answered("open", target, status));
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    return status;
  }

  Result<std::optional<std::string>> NextLine(
      std::chrono::steady_clock::time_point deadline) override {
    auto line = live_->NextLine(deadline);
    Exchange e = Answered("next", "", line);
    if (line) e.body = *line;
    recording_.Write(e);
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    return line;
  }

  bool LineReady() override {
    bool ready = live_->LineReady();
    recording_.Write(Valued("ready", ready ? 1 : 0));
    return ready;
  }

 private:
  std::unique_ptr<EngineConnection> live_;
  Recording& recording_;
};

class RecordingIo final : public EngineIo {
 public:
  RecordingIo(std::unique_ptr<EngineIo> live,
              std::unique_ptr<InputRecorder> recorder)
      : live_(std::move(live)), recording_(std::move(recorder)) {}

  Timestamp Now() override {
    Timestamp now = live_->Now();
    recording_.Write(Valued("now", ToUnixNanos(now)));
    return now;
  }

  Result<std::unique_ptr<EngineConnection>> Connect(
      std::stop_token stop) override {
    recording_.Follow(stop);
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    WMETA_ASSIGN_OR_RETURN(std::unique_ptr<EngineConnection> live,
                           live_->Connect(std::move(stop)));
    recording_.Write(Valued("connect", 0));
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    return std::make_unique<RecordingConnection>(std::move(live), recording_);
  }

  std::optional<std::string> ReadFile(const std::string& path) override {
    std::optional<std::string> text = live_->ReadFile(path);
    Exchange e = Answered("read", path, Status());
    e.body = text;
    recording_.Write(e);
    return text;
  }

  Result<std::vector<std::string>> Known(collectors::Sink& sink, Kind kind,
                                         std::string_view source) override {
    auto ids = live_->Known(sink, kind, source);
    Exchange e = Answered("known", KnownKey(kind, source), ids);
    if (ids) e.body = JoinLines(*ids);
    recording_.Write(e);
    WMETA_RETURN_IF_ERROR(recording_.TakeFailure());
    return ids;
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
      // No session left (a connect finds no other): the replay is over.
      if (replay_.Done() || op == "connect") done_.request_stop();
      return MakeError(ErrorCode::kUnavailable,
                       "the recording has no answer to " + std::string(op) +
                           (key.empty() ? "" : " " + std::string(key)));
    }
    if (e->error) return std::unexpected(*e->error);
    return e;
  }

  // A recording that never read the clock: its creation time.
  Timestamp Now() override {
    const Exchange* e = Lookup("now", "");
    if (e != nullptr) return FromUnixNanos(e->value);
    return ParseTime(replay_.header().created).value_or(Timestamp());
  }

  Result<std::unique_ptr<EngineConnection>> Connect(std::stop_token) override {
    WMETA_RETURN_IF_ERROR(Answer("connect", ""));
    return std::make_unique<ReplayConnection>(*this);
  }

  std::optional<std::string> ReadFile(const std::string& path) override {
    const Exchange* e = Lookup("read", path);
    return e != nullptr ? e->body : std::nullopt;
  }

  // Not recorded (an older recording): what the target holds.
  Result<std::vector<std::string>> Known(collectors::Sink& sink, Kind kind,
                                         std::string_view source) override {
    const Exchange* e = Lookup("known", KnownKey(kind, source));
    if (e == nullptr) return sink.Known(kind, source);
    if (e->error) return std::unexpected(*e->error);
    std::vector<std::string> ids;
    std::string_view lines = e->body ? std::string_view(*e->body) : "";
    while (!lines.empty()) {
      size_t end = lines.find('\n');
      ids.emplace_back(lines.substr(0, end));
      lines.remove_prefix(end == std::string_view::npos ? lines.size()
                                                        : end + 1);
    }
    return ids;
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
