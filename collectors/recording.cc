#include "wmeta/collectors/recording.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace wmeta::collectors {
namespace {

namespace json = boost::json;

constexpr std::string_view kFormat = "wmeta-collector-input";
constexpr int64_t kVersion = 1;

bool IsStreamOp(std::string_view op) {
  return op == "connect" || op == "open" || op == "next" || op == "ready";
}

// A line longer than this is damage, not a recording: the longest exchange
// is a response body of at most 64 MiB, escaped.
constexpr size_t kMaxLine = size_t{512} << 20;

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (int c = 0; c <= UINT8_MAX; ++c) {
    if (ErrorCodeName(static_cast<ErrorCode>(c)) == name) {
      return static_cast<ErrorCode>(c);
    }
  }
  return std::nullopt;
}

std::string Describe(std::string_view op, std::string_view key) {
  return key.empty() ? std::string(op)
                     : std::string(op) + " " + std::string(key);
}

std::string ToJsonLine(const Exchange& e) {
  json::object o;
  o["op"] = e.op;
  if (!e.key.empty()) o["key"] = e.key;
  if (e.error) {
    o["error"] = {{"code", ErrorCodeName(e.error->code)},
                  {"message", e.error->message}};
  } else {
    if (e.status != 0) o["status"] = e.status;
    if (e.body) o["body"] = *e.body;
    if (e.value != 0) o["value"] = e.value;
  }
  return json::serialize(o) + "\n";
}

Result<Exchange> FromJson(const json::object& o) {
  Exchange e;
  auto string_field = [&](std::string_view name) -> Result<std::string> {
    const json::value* v = o.if_contains(name);
    if (v == nullptr) return std::string();
    if (!v->is_string()) {
      return MakeError(ErrorCode::kCorruption,
                       "\"" + std::string(name) + "\" is not a string");
    }
    return std::string(v->get_string());
  };
  WMETA_ASSIGN_OR_RETURN(e.op, string_field("op"));
  if (e.op.empty()) return MakeError(ErrorCode::kCorruption, "no \"op\"");
  WMETA_ASSIGN_OR_RETURN(e.key, string_field("key"));
  if (const json::value* v = o.if_contains("body")) {
    if (!v->is_string()) {
      return MakeError(ErrorCode::kCorruption, "\"body\" is not a string");
    }
    e.body = std::string(v->get_string());
  }
  if (const json::value* v = o.if_contains("status")) {
    if (!v->is_int64() || v->get_int64() < 100 || v->get_int64() > 999) {
      return MakeError(ErrorCode::kCorruption, "\"status\" is not a status");
    }
    e.status = static_cast<int>(v->get_int64());
  }
  if (const json::value* v = o.if_contains("value")) {
    if (!v->is_int64()) {
      return MakeError(ErrorCode::kCorruption, "\"value\" is not an integer");
    }
    e.value = v->get_int64();
  }
  if (const json::value* v = o.if_contains("error")) {
    const json::object* error = v->if_object();
    const json::value* code = error ? error->if_contains("code") : nullptr;
    const json::value* message =
        error ? error->if_contains("message") : nullptr;
    if (code == nullptr || !code->is_string() || message == nullptr ||
        !message->is_string()) {
      return MakeError(ErrorCode::kCorruption,
                       "\"error\" is not {\"code\", \"message\"}");
    }
    auto parsed = ErrorCodeFromName(code->get_string());
    if (!parsed) {
      return MakeError(
          ErrorCode::kCorruption,
          "unknown error code \"" + std::string(code->get_string()) + "\"");
    }
    e.error = Error{*parsed, std::string(message->get_string())};
  }
  return e;
}

}  // namespace

bool Exchange::IsStream() const { return IsStreamOp(op); }

Result<std::unique_ptr<InputRecorder>> InputRecorder::Create(
    const std::string& path, const RecordingHeader& header) {
  // Owner-only: the engine's answers hold what its containers were given,
  // secrets included.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::FILE* file = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
  if (file == nullptr) {
    if (fd >= 0) ::close(fd);
    return MakeError(ErrorCode::kIoError,
                     path + ": cannot create: " + std::strerror(errno));
  }
  std::unique_ptr<InputRecorder> recorder(new InputRecorder(path, file));
  json::value options = json::object();
  if (!header.options_json.empty()) {
    boost::system::error_code ec;
    options = json::parse(header.options_json, ec);
    if (ec || !options.is_object()) {
      return MakeError(ErrorCode::kInternal,
                       "recording options are not a JSON object");
    }
  }
  json::object line{{"format", kFormat},
                    {"version", kVersion},
                    {"collector", header.collector},
                    {"source", header.source},
                    {"options", std::move(options)},
                    {"created", header.created}};
  std::string text = json::serialize(line) + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file) != text.size() ||
      std::fflush(file) != 0) {
    return MakeError(ErrorCode::kIoError,
                     path + ": cannot write: " + std::strerror(errno));
  }
  recorder->written_ = static_cast<long>(text.size());
  return recorder;
}

InputRecorder::~InputRecorder() { std::fclose(file_); }

Status InputRecorder::Write(const Exchange& exchange) {
  std::string line = ToJsonLine(exchange);
  if (std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
      std::fflush(file_) == 0) {
    written_ += static_cast<long>(line.size());
    return {};
  }
  int error = errno;
  // What reached the file of a line that did not fit goes: the recording
  // stays readable up to its last whole exchange.
  std::clearerr(file_);
  if (::ftruncate(fileno(file_), written_) == 0) {
    std::fseek(file_, written_, SEEK_SET);
  }
  return MakeError(ErrorCode::kIoError,
                   path_ + ": cannot write: " + std::strerror(error));
}

Result<std::unique_ptr<InputReplay>> InputReplay::Open(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    bool exists = std::filesystem::exists(path, ec);
    return MakeError(exists ? ErrorCode::kIoError : ErrorCode::kNotFound,
                     path + (exists ? ": cannot be read" : ": no such file"));
  }
  std::unique_ptr<InputReplay> replay(new InputReplay());
  std::string text;
  size_t number = 0;
  auto fail = [&](ErrorCode code, const std::string& what) {
    return MakeError(code,
                     path + ": line " + std::to_string(number) + ": " + what);
  };
  // Bodies are kept as the source sent them, valid UTF-8 or not.
  json::parse_options parse_options;
  parse_options.allow_invalid_utf8 = true;
  while (std::getline(in, text)) {
    ++number;
    if (text.size() > kMaxLine) {
      return fail(ErrorCode::kCorruption, "longer than 512 MiB");
    }
    if (in.eof()) {
      // A recorder killed while writing leaves its last line torn: what
      // precedes it is whole, and replays.
      replay->torn_line_ = number;
      break;
    }
    boost::system::error_code ec;
    json::value value = json::parse(text, ec, {}, parse_options);
    if (ec || !value.is_object()) {
      return fail(
          number == 1 ? ErrorCode::kUnsupportedFormat : ErrorCode::kCorruption,
          "not a JSON object");
    }
    const json::object& o = value.get_object();
    if (number == 1) {
      const json::value* format = o.if_contains("format");
      if (format == nullptr || !format->is_string() ||
          format->get_string() != kFormat) {
        return fail(ErrorCode::kUnsupportedFormat,
                    "not a collector input recording");
      }
      const json::value* version = o.if_contains("version");
      if (version == nullptr || !version->is_int64() ||
          version->get_int64() != kVersion) {
        return fail(ErrorCode::kUnsupportedFormat,
                    "a recording of a format version this build does not "
                    "read (it reads version 1)");
      }
      auto string_of = [&](std::string_view name) {
        const json::value* v = o.if_contains(name);
        return v != nullptr && v->is_string() ? std::string(v->get_string())
                                              : std::string();
      };
      replay->header_.collector = string_of("collector");
      replay->header_.source = string_of("source");
      replay->header_.created = string_of("created");
      if (const json::value* options = o.if_contains("options")) {
        replay->header_.options_json = json::serialize(*options);
      }
      if (replay->header_.collector.empty()) {
        return fail(ErrorCode::kCorruption, "the header names no collector");
      }
      continue;
    }
    auto exchange = FromJson(o);
    if (!exchange)
      return fail(ErrorCode::kCorruption, exchange.error().message);
    replay->exchanges_.push_back(std::move(*exchange));
  }
  if (in.bad()) return fail(ErrorCode::kIoError, "read failed");
  if (replay->torn_line_ == 1) {
    return fail(ErrorCode::kCorruption, "the header line is torn");
  }
  if (number == 0) {
    return MakeError(ErrorCode::kUnsupportedFormat,
                     path + ": empty, not a collector input recording");
  }
  return replay;
}

void InputReplay::Diverged(size_t at, std::string_view op,
                           std::string_view key) {
  if (divergences_++ != 0) return;
  first_divergence_ =
      at < exchanges_.size()
          ? "exchange " + std::to_string(at + 1) + " is " +
                Describe(exchanges_[at].op, exchanges_[at].key) +
                "; the collector asked " + Describe(op, key)
          : "the recording had ended; the collector asked " + Describe(op, key);
}

const Exchange* InputReplay::Answer(std::string_view op, std::string_view key) {
  const bool stream = IsStreamOp(op);
  if (cursor_ < exchanges_.size()) {
    const Exchange& at = exchanges_[cursor_];
    if (at.op == op && (stream || at.key == key)) {
      if (at.key != key) Diverged(cursor_, op, key);
      return &exchanges_[cursor_++];
    }
  }
  // A stream call past the end is how every replay ends, not a divergence.
  if (!stream || cursor_ < exchanges_.size()) Diverged(cursor_, op, key);
  auto matches = [&](size_t i) {
    return exchanges_[i].op == op && exchanges_[i].key == key;
  };
  if (!stream) {
    // Up to the next stream call, the requests the collector no longer makes
    // are skipped; past it, or before the cursor, the source's state as of
    // the cursor answers: the latest answer before it, else the first after.
    for (size_t i = cursor_; i < exchanges_.size() && !exchanges_[i].IsStream();
         ++i) {
      if (matches(i)) {
        cursor_ = i + 1;
        return &exchanges_[i];
      }
    }
    for (size_t i = cursor_; i-- > 0;) {
      if (matches(i)) return &exchanges_[i];
    }
    for (size_t i = cursor_; i < exchanges_.size(); ++i) {
      if (matches(i)) return &exchanges_[i];
    }
    return nullptr;
  }
  if (op == "ready") return nullptr;
  // Skips the requests the collector no longer makes (and "ready"s), never
  // another stream call: past a "connect" lies another session. A "connect"
  // skips the rest of its session.
  for (size_t i = cursor_; i < exchanges_.size(); ++i) {
    const Exchange& e = exchanges_[i];
    if (e.op == op) {
      cursor_ = i + 1;
      return &e;
    }
    if (e.IsStream() && e.op != "ready" && op != "connect") break;
  }
  return nullptr;
}

bool InputReplay::AtStop() const {
  return cursor_ < exchanges_.size() && exchanges_[cursor_].op == "stop";
}

bool InputReplay::Done() const {
  for (size_t i = cursor_; i < exchanges_.size(); ++i) {
    if (exchanges_[i].IsStream()) return false;
  }
  return true;
}

}  // namespace wmeta::collectors
