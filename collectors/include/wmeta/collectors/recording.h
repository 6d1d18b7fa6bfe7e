// Collector input recordings: what a collector received from outside (HTTP
// responses, event stream lines, files read, the time it took), written as it
// happens, and read back to run the collector again from it instead of the
// live source, deterministically. A collector change is then tested against
// real traffic recorded earlier. The format (JSON lines) is in
// collectors/RECORDING.md.
//
// A replay answers each call with the recorded exchange at its cursor when
// the call matches it. A collector that asks differently (a changed version)
// still gets answers: a request is answered with the latest recorded answer
// to it (the source's state as of that point), a stream read skips to the
// next recorded stream read. Such calls are counted as divergences. The
// answers depend only on the recording and the calls, never on timing.
//
// Thread-safety: neither class is thread-safe; a collector's one thread uses
// them.

#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wmeta/collectors/collector.h"
#include "wmeta/schema/error.h"

namespace wmeta::collectors {

// What a recording says about the collector that made it.
struct RecordingHeader {
  // The collector's name and kind ("docker", "podman" for the Docker Engine
  // API collector), its source and its options as the replay needs them
  // (a JSON object, the collector's own).
  std::string collector;
  std::string source;
  std::string options_json;
  // RFC 3339, when the recording began.
  std::string created;
};

// One call the collector made to the outside world, and its answer.
struct Exchange {
  // What was asked. Requests ("get", "read", "now") are answered from the
  // source's state; stream calls ("connect", "open", "next", "ready") follow
  // each other in order. "stop" marks where the collector was stopped.
  std::string op;
  // What it was asked of: a request target, a file path; "" for none.
  std::string key;
  // The answer: an error, or a status and a body (a response, a line, a
  // file's text), or none (an idle stream, a missing file), or a number (the
  // time in ns, a flag).
  std::optional<Error> error;
  int status = 0;
  std::optional<std::string> body;
  int64_t value = 0;

  bool IsStream() const;
};

class InputRecorder {
 public:
  // Creates (truncates) `path` and writes the header line. kIoError when it
  // cannot be written.
  static Result<std::unique_ptr<InputRecorder>> Create(
      const std::string& path, const RecordingHeader& header);
  ~InputRecorder();
  InputRecorder(const InputRecorder&) = delete;
  InputRecorder& operator=(const InputRecorder&) = delete;

  // Appends one exchange and flushes it to the kernel (a crash of the
  // service loses nothing written). kIoError on a failed write (a full
  // disk); the file then ends at the last whole line.
  Status Write(const Exchange& exchange);

 private:
  InputRecorder(std::string path, std::FILE* file)
      : path_(std::move(path)), file_(file) {}

  std::string path_;
  std::FILE* file_;
  // The size of the file up to its last whole line.
  long written_ = 0;
};

class InputReplay {
 public:
  // Reads and checks the whole recording. kNotFound for a missing file,
  // kUnsupportedFormat for a file that is not a recording of this version,
  // kCorruption naming the line for a malformed one (a torn last line is
  // not: see torn_line()).
  static Result<std::unique_ptr<InputReplay>> Open(const std::string& path);

  const RecordingHeader& header() const { return header_; }

  // The answer to the call `op` on `key` (see the file comment), or nullptr
  // once the recording has no more for it: a stream call past the end, or
  // past the end of its session ("next" at a "connect"), a request never
  // recorded. "ready" not at the cursor answers nullptr too (not ready).
  const Exchange* Answer(std::string_view op, std::string_view key);

  // Whether every stream exchange has been answered.
  bool Done() const;

  // The number of the last line when it was torn (a recorder killed while
  // writing it): the exchanges before it replay. 0 when the file is whole.
  size_t torn_line() const { return torn_line_; }

  // Whether the recorded collector was stopped at the cursor: it made no
  // call after this point (a "stop" exchange).
  bool AtStop() const;

  // Calls answered other than by the exchange at the cursor, and the first
  // one described ("exchange 12 is GET /a; the collector asked GET /b").
  uint64_t divergences() const { return divergences_; }
  const std::string& first_divergence() const { return first_divergence_; }

  size_t size() const { return exchanges_.size(); }

 private:
  InputReplay() = default;
  void Diverged(size_t at, std::string_view op, std::string_view key);

  RecordingHeader header_;
  std::vector<Exchange> exchanges_;
  size_t cursor_ = 0;
  size_t torn_line_ = 0;
  uint64_t divergences_ = 0;
  std::string first_divergence_;
};

// A collector that runs from a recording: its Run returns once the recording
// is used up.
class ReplayCollector : public Collector {
 public:
  // How the calls matched the recording (read after Run).
  virtual const InputReplay& replay() const = 0;
};

}  // namespace wmeta::collectors
