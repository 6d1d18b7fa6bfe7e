#include "wmeta/tools/client/client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wmeta/tools/api/args.h"
#include "wmeta/tools/protocol/codec.h"

namespace wmeta::tools {
namespace {

namespace fbw = wire::fbw;
using Clock = std::chrono::steady_clock;

Error Unreachable(const std::string& address, int err) {
  return {ErrorCode::kUnavailable, "cannot connect to " + address + ": " +
                                       std::strerror(err) +
                                       " (is wmetad running there?)"};
}

Result<int> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(Unreachable(path, errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    int err = errno;
    ::close(fd);
    return std::unexpected(Unreachable(path, err));
  }
  return fd;
}

Result<int> ConnectTcp(const std::string& address) {
  WMETA_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(address));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(host_port.second);
  if (int rc =
          ::getaddrinfo(host_port.first.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot resolve " + address + ": " + ::gai_strerror(rc));
  }
  int err = ECONNREFUSED;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
      continue;
    }
    // Over a network a peer can vanish without a word; keepalives notice.
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  }
  ::freeaddrinfo(found);
  if (fd < 0) return std::unexpected(Unreachable(address, err));
  return fd;
}

Error Unexpected(const fbw::Frame& frame, std::string_view wanted) {
  return {ErrorCode::kCorruption,
          std::string("expected ") + std::string(wanted) +
              " from wmetad, got " + fbw::EnumNameBody(frame.body_type())};
}

Result<std::shared_ptr<const Event>> Record(const fbw::RecordBytes* bytes) {
  WMETA_ASSIGN_OR_RETURN(Event event, wire::ToEvent(bytes));
  return std::make_shared<const Event>(std::move(event));
}

}  // namespace

Client::Client(int fd, ClientOptions options, std::string address)
    : fd_(fd), options_(std::move(options)), address_(std::move(address)) {}

Client::~Client() { ::close(fd_); }

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  bool unix = !options.socket_path.empty();
  if (unix == !options.tcp.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "give either a socket path or a TCP address");
  }
  std::string address = unix ? options.socket_path : options.tcp;
  WMETA_ASSIGN_OR_RETURN(int fd, unix ? ConnectUnix(options.socket_path)
                                      : ConnectTcp(options.tcp));
  std::unique_ptr<Client> client(new Client(fd, options, address));
  wire::FrameBuilder b;
  auto hello = fbw::CreateHelloDirect(b.fbb(), wire::kProtocolVersion,
                                      options.token.c_str(), "wmeta");
  WMETA_RETURN_IF_ERROR(
      client->Send(b.Finish(0, fbw::Body::Hello, hello.Union())));
  WMETA_ASSIGN_OR_RETURN(ReceivedFrame reply, client->Await());
  const fbw::Welcome* welcome = reply.frame->body_as_Welcome();
  if (welcome == nullptr) {
    return std::unexpected(Unexpected(*reply.frame, "Welcome"));
  }
  client->store_id_ =
      welcome->store_id() != nullptr ? welcome->store_id()->str() : "";
  return client;
}

Status Client::Send(std::span<const uint8_t> frame) {
  // A daemon that stops reading must not hang the client for good.
  auto deadline = Clock::now() + options_.timeout;
  size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline -
                                                                 Clock::now());
        pollfd p{fd_, POLLOUT, 0};
        if (left.count() <= 0 ||
            (::poll(&p, 1, static_cast<int>(left.count())) == 0 &&
             Clock::now() >= deadline)) {
          return MakeError(ErrorCode::kUnavailable,
                           "wmetad at " + address_ + " took nothing for " +
                               std::to_string(options_.timeout.count()) +
                               " ms");
        }
        continue;
      }
      return MakeError(
          ErrorCode::kUnavailable,
          "lost the connection to " + address_ + ": " + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  return {};
}

Result<std::optional<ReceivedFrame>> Client::Receive(
    Clock::time_point deadline) {
  while (true) {
    if (pending_.size() >= 4) {
      uint32_t length =
          wire::FrameLength(std::span<const uint8_t, 4>(pending_.data(), 4));
      if (length == 0 || length > options_.max_frame) {
        return MakeError(
            ErrorCode::kCorruption,
            "wmetad sent a frame of " + std::to_string(length) + " bytes");
      }
      if (pending_.size() >= 4 + size_t{length}) {
        // A buffer of its own: aligned, as verification requires.
        ReceivedFrame out;
        out.bytes.assign(pending_.begin(), pending_.begin() + 4 + length);
        pending_.erase(pending_.begin(), pending_.begin() + 4 + length);
        WMETA_ASSIGN_OR_RETURN(out.frame, wire::VerifyFrame(out.bytes));
        return out;
      }
    }
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(
        &p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000 * 60)));
    if (ready < 0) {
      if (errno == EINTR) return std::nullopt;
      return MakeError(ErrorCode::kIoError,
                       std::string("poll: ") + std::strerror(errno));
    }
    if (ready == 0) continue;
    uint8_t buffer[64 * 1024];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "wmetad at " + address_ + " closed the connection");
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return MakeError(
          ErrorCode::kUnavailable,
          "lost the connection to " + address_ + ": " + std::strerror(errno));
    }
    pending_.insert(pending_.end(), buffer, buffer + n);
  }
}

Result<ReceivedFrame> Client::Await() {
  auto deadline = Clock::now() + options_.timeout;
  while (Clock::now() < deadline) {
    WMETA_ASSIGN_OR_RETURN(auto frame, Receive(deadline));
    if (!frame) {
      if (Clock::now() < deadline) {
        return MakeError(ErrorCode::kUnavailable, "interrupted");
      }
      continue;
    }
    if (const fbw::Error* error = frame->frame->body_as_Error()) {
      return std::unexpected(wire::ToError(*error));
    }
    return std::move(*frame);
  }
  return MakeError(ErrorCode::kUnavailable,
                   "wmetad at " + address_ + " did not answer within " +
                       std::to_string(options_.timeout.count()) + " ms");
}

namespace {

class RemoteStream final : public Stream {
 public:
  RemoteStream(Client& client, uint64_t request, uint64_t next)
      : client_(client), request_(request), next_(next) {}

  ~RemoteStream() override {
    if (ended_) return;
    // Best effort: the connection is usually closed right after.
    wire::FrameBuilder b;
    (void)client_.Send(b.Finish(request_, fbw::Body::Cancel,
                                fbw::CreateCancel(b.fbb()).Union()));
  }

  Result<std::optional<store::Bundle>> Next(
      Clock::time_point deadline) override {
    if (ended_) return std::nullopt;
    WMETA_ASSIGN_OR_RETURN(auto frame, client_.Receive(deadline));
    if (!frame) return store::Bundle{};
    if (const fbw::Error* error = frame->frame->body_as_Error()) {
      ended_ = true;
      return std::unexpected(wire::ToError(*error));
    }
    const fbw::Bundle* bundle = frame->frame->body_as_Bundle();
    if (bundle == nullptr) {
      return std::unexpected(Unexpected(*frame->frame, "Bundle"));
    }
    store::Bundle out;
    if (bundle->messages() != nullptr) {
      for (const fbw::Message* m : *bundle->messages()) {
        if (m->type() > fbw::MessageType::MAX ||
            m->event_type() > fb::EventType::MAX) {
          return MakeError(ErrorCode::kCorruption,
                           "a message of an unknown type");
        }
        store::Message message;
        message.type = static_cast<store::Message::Type>(m->type());
        message.offset = m->offset();
        message.event_type = static_cast<EventType>(m->event_type());
        if (m->event() != nullptr) {
          WMETA_ASSIGN_OR_RETURN(auto event, Record(m->event()));
          message.event = event.get();
          out.owners.push_back(std::move(event));
        }
        if (message.type == store::Message::Type::kEvent &&
            message.event == nullptr) {
          return MakeError(ErrorCode::kCorruption,
                           "an event message without its event");
        }
        out.messages.push_back(message);
        next_ = std::max(next_, message.offset + 1);
      }
    }
    if (bundle->end() && out.empty()) {
      ended_ = true;
      return std::nullopt;
    }
    ended_ = bundle->end();
    return out;
  }

  uint64_t next_offset() const override { return next_; }
  bool catching_up() const override { return false; }

 private:
  Client& client_;
  const uint64_t request_;
  uint64_t next_;
  bool ended_ = false;
};

class RemoteBackend final : public Backend {
 public:
  explicit RemoteBackend(std::unique_ptr<Client> client)
      : client_(std::move(client)) {}

  Result<store::ApplyResult> Push(std::span<const Event> events) override {
    wire::FrameBuilder b;
    std::vector<flatbuffers::Offset<fbw::RecordBytes>> records;
    records.reserve(events.size());
    for (const Event& event : events) {
      records.push_back(b.AddRecord(event.view()));
    }
    auto body = fbw::CreatePushRequestDirect(b.fbb(), &records);
    WMETA_ASSIGN_OR_RETURN(
        auto reply,
        Call<fbw::PushReply>(b, fbw::Body::PushRequest, body.Union()));
    const fbw::PushReply* push = reply.second;
    if (push->durability() != nullptr) durability_ = push->durability()->str();
    store::ApplyResult result;
    result.appended = push->appended();
    result.noops = push->noops();
    result.first_offset = push->first_offset();
    result.last_offset = push->last_offset();
    result.synced = push->synced();
    return result;
  }

  std::string durability() const override { return durability_; }

  Result<EntitiesResult> List(const ListRequest& request) override {
    wire::FrameBuilder b;
    auto at = protocol::EncodePoint(b.fbb(), request.at);
    auto body = fbw::CreateListRequestDirect(
        b.fbb(),
        request.kind ? static_cast<fb::Kind>(*request.kind) : fb::Kind::none,
        request.search.c_str(), request.selector.c_str(), at,
        request.provenance, request.owner.c_str());
    EntitiesResult result;
    WMETA_RETURN_IF_ERROR(Chunks(
        b.Finish(client_->NextRequest(), fbw::Body::ListRequest, body.Union()),
        [&](const fbw::Frame& frame) -> Result<bool> {
          const fbw::EntitiesReply* reply = frame.body_as_EntitiesReply();
          if (reply == nullptr) {
            return std::unexpected(Unexpected(frame, "EntitiesReply"));
          }
          result.at_offset = reply->at_offset();
          if (reply->entities() != nullptr) {
            for (const fbw::EntityState* entity : *reply->entities()) {
              WMETA_ASSIGN_OR_RETURN(EntityInfo info,
                                     protocol::DecodeEntity(entity));
              result.entities.push_back(std::move(info));
            }
          }
          return reply->more();
        }));
    return result;
  }

  Result<EntityInfo> Get(const EntityId& id, const PointSpec& at,
                         bool provenance) override {
    wire::FrameBuilder b;
    auto point = protocol::EncodePoint(b.fbb(), at);
    auto body =
        fbw::CreateGetRequestDirect(b.fbb(), static_cast<fb::Kind>(id.kind),
                                    id.id.c_str(), point, provenance);
    WMETA_ASSIGN_OR_RETURN(
        auto reply,
        Call<fbw::EntitiesReply>(b, fbw::Body::GetRequest, body.Union()));
    const fbw::EntitiesReply* entities = reply.second;
    if (entities->entities() == nullptr || entities->entities()->size() != 1) {
      return std::unexpected(Unexpected(*reply.first.frame, "one entity"));
    }
    return protocol::DecodeEntity(entities->entities()->Get(0));
  }

  Result<std::vector<store::HistoryEntry>> History(
      const EntityId& id) override {
    wire::FrameBuilder b;
    auto body = fbw::CreateHistoryRequestDirect(
        b.fbb(), static_cast<fb::Kind>(id.kind), id.id.c_str());
    std::vector<store::HistoryEntry> history;
    WMETA_RETURN_IF_ERROR(
        Chunks(b.Finish(client_->NextRequest(), fbw::Body::HistoryRequest,
                        body.Union()),
               [&](const fbw::Frame& frame) -> Result<bool> {
                 const fbw::HistoryReply* reply = frame.body_as_HistoryReply();
                 if (reply == nullptr) {
                   return std::unexpected(Unexpected(frame, "HistoryReply"));
                 }
                 if (reply->entries() != nullptr) {
                   for (const fbw::HistoryEntry* e : *reply->entries()) {
                     store::HistoryEntry entry;
                     WMETA_ASSIGN_OR_RETURN(entry.record, Record(e->record()));
                     WMETA_ASSIGN_OR_RETURN(entry.merged, Record(e->merged()));
                     entry.exists = e->exists();
                     entry.changes = protocol::DecodeChanges(e->changes());
                     history.push_back(std::move(entry));
                   }
                 }
                 return reply->more();
               }));
    return history;
  }

  Result<store::DiffResult> Diff(const PointSpec& from,
                                 const PointSpec& to) override {
    wire::FrameBuilder b;
    auto a = protocol::EncodePoint(b.fbb(), from);
    auto z = protocol::EncodePoint(b.fbb(), to);
    auto body = fbw::CreateDiffRequest(b.fbb(), a, z);
    store::DiffResult result;
    WMETA_RETURN_IF_ERROR(Chunks(
        b.Finish(client_->NextRequest(), fbw::Body::DiffRequest, body.Union()),
        [&](const fbw::Frame& frame) -> Result<bool> {
          const fbw::DiffReply* reply = frame.body_as_DiffReply();
          if (reply == nullptr) {
            return std::unexpected(Unexpected(frame, "DiffReply"));
          }
          result.from_offset = reply->from_offset();
          result.to_offset = reply->to_offset();
          if (reply->diffs() != nullptr) {
            for (const fbw::EntityDiff* d : *reply->diffs()) {
              WMETA_ASSIGN_OR_RETURN(Kind kind,
                                     protocol::DecodeKind(d->kind()));
              store::EntityDiff diff{
                  {kind, d->id() != nullptr ? d->id()->str() : ""},
                  nullptr,
                  nullptr,
                  protocol::DecodeChanges(d->changes())};
              switch (d->change()) {
                case fbw::DiffChange::added:
                  result.added.push_back(std::move(diff));
                  break;
                case fbw::DiffChange::removed:
                  result.removed.push_back(std::move(diff));
                  break;
                default:
                  result.changed.push_back(std::move(diff));
              }
            }
          }
          return reply->more();
        }));
    return result;
  }

  Result<std::unique_ptr<Stream>> Watch(const WatchRequest& request) override {
    wire::FrameBuilder b;
    auto body = protocol::EncodeWatch(b.fbb(), request);
    uint64_t id = client_->NextRequest();
    WMETA_RETURN_IF_ERROR(
        client_->Send(b.Finish(id, fbw::Body::SubscribeRequest, body.Union())));
    return std::make_unique<RemoteStream>(*client_, id, request.offset);
  }

  Result<store::CheckpointInfo> Checkpoint() override {
    wire::FrameBuilder b;
    auto body = fbw::CreateCheckpointRequest(b.fbb());
    WMETA_ASSIGN_OR_RETURN(
        auto reply, Call<fbw::CheckpointReply>(b, fbw::Body::CheckpointRequest,
                                               body.Union()));
    const fbw::CheckpointReply* info = reply.second;
    return store::CheckpointInfo{
        info->offset(), static_cast<size_t>(info->entities()), info->bytes(),
        info->path() != nullptr ? info->path()->str() : ""};
  }

  Result<store::RetentionResult> Retention(
      const store::RetentionPolicy& policy) override {
    wire::FrameBuilder b;
    auto body = fbw::CreateRetentionRequest(
        b.fbb(), static_cast<uint64_t>(policy.max_age.count()),
        policy.max_records, policy.max_bytes);
    WMETA_ASSIGN_OR_RETURN(
        auto reply, Call<fbw::RetentionReply>(b, fbw::Body::RetentionRequest,
                                              body.Union()));
    const fbw::RetentionReply* r = reply.second;
    return store::RetentionResult{r->old_first_offset(), r->new_first_offset(),
                                  r->records_removed()};
  }

  Result<ServiceStats> Stats() override {
    wire::FrameBuilder b;
    auto body = fbw::CreateStatsRequest(b.fbb());
    WMETA_ASSIGN_OR_RETURN(
        auto reply,
        Call<fbw::StatsReply>(b, fbw::Body::StatsRequest, body.Union()));
    const fbw::StatsReply* s = reply.second;
    auto str = [](const flatbuffers::String* v) {
      return v != nullptr ? v->str() : std::string();
    };
    ServiceStats stats;
    stats.log.store_id = str(s->store_id());
    stats.log.format_version = s->format_version();
    stats.log.durability = str(s->durability());
    stats.log.first_offset = s->first_offset();
    stats.log.last_offset = s->last_offset();
    stats.log.record_count = s->record_count();
    stats.log.first_ingest_time = FromUnixNanos(s->first_ingest_time());
    stats.log.last_ingest_time = FromUnixNanos(s->last_ingest_time());
    stats.log.bytes_on_disk = s->bytes_on_disk();
    stats.log.indexed_offset = s->indexed_offset();
    stats.applied_offset = s->applied_offset();
    stats.entities = s->entities();
    stats.subscribers = s->subscribers();
    stats.data_dir = str(s->data_dir());
    stats.log.recovered = str(s->recovered());
    if (s->collectors() != nullptr) {
      for (const fbw::CollectorStatus* c : *s->collectors()) {
        stats.collectors.push_back({str(c->name()), str(c->state()),
                                    c->healthy(), c->restarts(), c->pulls(),
                                    c->pull_errors(), str(c->last_error())});
      }
    }
    return stats;
  }

  Result<log::VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>&) override {
    wire::FrameBuilder b;
    auto body = fbw::CreateVerifyRequest(b.fbb());
    WMETA_ASSIGN_OR_RETURN(
        auto reply,
        Call<fbw::VerifyReply>(b, fbw::Body::VerifyRequest, body.Union()));
    const fbw::VerifyReply* v = reply.second;
    log::VerifyReport report;
    report.records_checked = v->records_checked();
    report.index_entries_checked = v->index_entries_checked();
    report.problem_count = v->problem_count();
    if (v->problems() != nullptr) {
      for (const fbw::VerifyProblem* p : *v->problems()) {
        report.problems.push_back(
            {p->offset(), p->message() != nullptr ? p->message()->str() : ""});
      }
    }
    return report;
  }

 private:
  // Sends a request and waits for its one reply, which must be a `Reply`;
  // the pointer is into the frame returned with it.
  template <typename Reply>
  Result<std::pair<ReceivedFrame, const Reply*>> Call(
      wire::FrameBuilder& b, fbw::Body type, flatbuffers::Offset<void> body) {
    WMETA_RETURN_IF_ERROR(
        client_->Send(b.Finish(client_->NextRequest(), type, body)));
    WMETA_ASSIGN_OR_RETURN(ReceivedFrame reply, client_->Await());
    const Reply* typed = reply.frame->template body_as<Reply>();
    if (typed == nullptr) {
      return std::unexpected(Unexpected(
          *reply.frame, fbw::EnumNameBody(fbw::BodyTraits<Reply>::enum_value)));
    }
    return std::pair<ReceivedFrame, const Reply*>(std::move(reply), typed);
  }

  // Sends `request` and hands each reply frame to `take`, which says whether
  // more follow.
  Status Chunks(std::span<const uint8_t> request,
                const std::function<Result<bool>(const fbw::Frame&)>& take) {
    WMETA_RETURN_IF_ERROR(client_->Send(request));
    while (true) {
      WMETA_ASSIGN_OR_RETURN(ReceivedFrame reply, client_->Await());
      WMETA_ASSIGN_OR_RETURN(bool more, take(*reply.frame));
      if (!more) return {};
    }
  }

  std::unique_ptr<Client> client_;
  std::string durability_;
};

}  // namespace

std::unique_ptr<Backend> NewRemoteBackend(std::unique_ptr<Client> client) {
  return std::make_unique<RemoteBackend>(std::move(client));
}

}  // namespace wmeta::tools
