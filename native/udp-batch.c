/*
 * udp_batch: an IPv4 UDP socket read with recvmmsg(2) and written with sendmmsg(2), for the TFTP
 * relay's client-facing port, which carries every session's blocks and ACKs.
 *
 * Node's dgram makes one recvmsg/sendmsg system call, one JavaScript call and one rinfo object per
 * datagram; here one system call moves up to SLOTS datagrams each way and JavaScript is called once
 * per batch. No npm package offers batched UDP I/O for Node, hence this file.
 *
 * The JavaScript side (lvs-adapters/userspace/client-port.ts) owns four buffers: datagrams read land
 * in `recv` (one slot of `slot` bytes each) with their length, IPv4 address and port in `rmeta`
 * (three native-endian uint32 each); datagrams to send are copied into `send` and `smeta` the same
 * way, then `flush(handle, count)` sends them in one call.
 *
 * Server sockets (lvs-adapters/userspace/server-socket.ts) are the relay's sockets toward TFTP
 * servers, one per session (a server tells transfers apart by our port). Each carries a datagram at
 * a time, so there is nothing to batch per socket; what costs under dgram is the rest: a 64 KiB
 * allocation, a Buffer, an rinfo object and a JavaScript call per datagram, and a second recvmsg
 * that finds the queue empty. Here a readable server socket's datagram is read into a shared area
 * (`serverInit`) and JavaScript is called once per event-loop turn, after the poll phase, for all
 * the datagrams of that turn; sends are a plain send(2).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SLOTS 64
/* batches read per readiness before the loop serves other sockets: one busy port cannot starve the rest */
#define ROUNDS 4

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  /* close() was called (the handle is dead to JavaScript) */
  int closed;
  /* libuv has let go of the poll handle; the JavaScript handle was collected */
  int released;
  int collected;
  napi_ref on_batch;
  napi_ref buffers[4];
  napi_async_context context;
  char *recv;
  uint32_t *rmeta;
  char *send;
  uint32_t *smeta;
  size_t slot;
  struct mmsghdr rmsgs[SLOTS];
  struct iovec riov[SLOTS];
  struct sockaddr_in raddr[SLOTS];
  struct mmsghdr smsgs[SLOTS];
  struct iovec siov[SLOTS];
  struct sockaddr_in saddr[SLOTS];
} port_t;

#define CHECK(env, call)                                  \
  do {                                                    \
    if ((call) != napi_ok) {                              \
      napi_throw_error((env), NULL, "udp_batch: " #call); \
      return NULL;                                        \
    }                                                     \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int error) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static port_t *port_of(napi_env env, napi_value handle) {
  void *data = NULL;
  if (napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) return NULL;
  port_t *p = data;
  return p->closed ? NULL : p;
}

/*
 * Calls onBatch(count) as libuv callbacks call into JavaScript (napi_make_callback: microtasks and
 * async hooks run after it). An exception it throws goes to the process's uncaughtException, as one
 * thrown by a dgram 'message' listener would. Returns 0 when the call failed or threw.
 */
static int call_on_batch(napi_env env, napi_ref on_batch, napi_async_context context, uint32_t n) {
  napi_value callback, global, count, result;
  napi_get_reference_value(env, on_batch, &callback);
  napi_get_global(env, &global);
  napi_create_uint32(env, n, &count);
  napi_status called = napi_make_callback(env, context, global, callback, 1, &count, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (called == napi_ok && !pending) return 1;
  napi_value error;
  if (pending && napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  return 0;
}

/*
 * A non-blocking IPv4 UDP socket bound to `local`, watched for reads with `poll` (its data set by
 * the caller) from now on. Returns the descriptor, or with a JavaScript error thrown: -1, the
 * caller frees what holds `poll`; -2, libuv still holds `poll` and its memory must stay (a leak
 * never seen: uv_poll_start fails only for a bad descriptor).
 */
static int open_watched(napi_env env, const struct sockaddr_in *local, uv_poll_t *poll, uv_poll_cb on_ready) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return -1;
  }
  if (bind(fd, (const struct sockaddr *)local, sizeof *local) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, "bind", error);
    return -1;
  }
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init_socket(loop, poll, fd) != 0) {
    close(fd);
    napi_throw_error(env, NULL, "udp_batch: cannot watch the socket");
    return -1;
  }
  if (uv_poll_start(poll, UV_READABLE, on_ready) != 0) {
    uv_close((uv_handle_t *)poll, NULL);
    close(fd);
    napi_throw_error(env, NULL, "udp_batch: cannot watch the socket");
    return -2;
  }
  return fd;
}

static void on_collected(napi_env env, void *data, void *hint);

/*
 * libuv stops watching a socket when epoll reports an error on it (EPOLLERR: an ICMP error queued
 * on the socket). Reading the error with SO_ERROR clears it; then the socket is watched again, so
 * that one ICMP message does not end a socket's reads.
 */
static void rearm(uv_poll_t *poll, int fd, uv_poll_cb callback) {
  int error = 0;
  socklen_t size = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
  uv_poll_start(poll, UV_READABLE, callback);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  port_t *p = poll->data;
  (void)events;
  if (p->closed) return;
  if (status < 0) {
    rearm(poll, p->fd, on_readable);
    return;
  }
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (int round = 0; round < ROUNDS && !p->closed; round++) {
    for (int i = 0; i < SLOTS; i++) p->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    int n = recvmmsg(p->fd, p->rmsgs, SLOTS, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      /* EAGAIN: drained; EINTR or a queued ICMP error: try again at the next readiness */
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && round + 1 < ROUNDS) continue;
      break;
    }
    for (int i = 0; i < n; i++) {
      p->rmeta[i * 3] = p->rmsgs[i].msg_len;
      p->rmeta[i * 3 + 1] = ntohl(p->raddr[i].sin_addr.s_addr);
      p->rmeta[i * 3 + 2] = ntohs(p->raddr[i].sin_port);
    }
    if (!call_on_batch(env, p->on_batch, p->context, (uint32_t)n) || n < SLOTS) break;
  }
  napi_close_handle_scope(env, scope);
}

static int buffer_arg(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, data, length) == napi_ok;
}

/* open(address, recv, rmeta, send, smeta, slot, onBatch): a handle, bound to address:0 and read from now */
static napi_value open_port(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "udp_batch.open: 7 arguments");
    return NULL;
  }
  char address[64];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], address, sizeof address, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch.open: the address is a string");
    return NULL;
  }
  uint32_t slot = 0;
  CHECK(env, napi_get_value_uint32(env, argv[5], &slot));
  void *areas[4];
  size_t sizes[4];
  for (int i = 0; i < 4; i++) {
    if (!buffer_arg(env, argv[1 + i], &areas[i], &sizes[i])) {
      napi_throw_type_error(env, NULL, "udp_batch.open: four Buffers");
      return NULL;
    }
  }
  if (slot == 0 || sizes[0] < (size_t)SLOTS * slot || sizes[2] < (size_t)SLOTS * slot || sizes[1] < SLOTS * 12 || sizes[3] < SLOTS * 12) {
    napi_throw_range_error(env, NULL, "udp_batch.open: buffers too small for the slots");
    return NULL;
  }
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = 0};
  if (inet_pton(AF_INET, address, &local.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "udp_batch.open: not an IPv4 address");
    return NULL;
  }
  port_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "calloc", ENOMEM);
  p->poll.data = p;
  p->fd = open_watched(env, &local, &p->poll, on_readable);
  if (p->fd < 0) {
    if (p->fd == -1) free(p);
    return NULL;
  }
  p->env = env;
  p->slot = slot;
  p->recv = areas[0];
  p->rmeta = areas[1];
  p->send = areas[2];
  p->smeta = areas[3];
  for (int i = 0; i < 4; i++) napi_create_reference(env, argv[1 + i], 1, &p->buffers[i]);
  napi_create_reference(env, argv[6], 1, &p->on_batch);
  napi_value name;
  napi_create_string_utf8(env, "udp_batch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->context);
  for (int i = 0; i < SLOTS; i++) {
    p->riov[i].iov_base = p->recv + (size_t)i * slot;
    p->riov[i].iov_len = slot;
    p->rmsgs[i].msg_hdr.msg_iov = &p->riov[i];
    p->rmsgs[i].msg_hdr.msg_iovlen = 1;
    p->rmsgs[i].msg_hdr.msg_name = &p->raddr[i];
    p->smsgs[i].msg_hdr.msg_iov = &p->siov[i];
    p->smsgs[i].msg_hdr.msg_iovlen = 1;
    p->smsgs[i].msg_hdr.msg_name = &p->saddr[i];
    p->smsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }
  napi_value handle;
  CHECK(env, napi_create_external(env, p, on_collected, NULL, &handle));
  return handle;
}

/* port(handle): the local port the socket was bound to */
static napi_value local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc ? port_of(env, argv[0]) : NULL;
  if (p == NULL) {
    napi_throw_error(env, NULL, "udp_batch: closed");
    return NULL;
  }
  struct sockaddr_in local;
  socklen_t size = sizeof local;
  if (getsockname(p->fd, (struct sockaddr *)&local, &size) < 0) return throw_errno(env, "getsockname", errno);
  napi_value port;
  napi_create_uint32(env, ntohs(local.sin_port), &port);
  return port;
}

/*
 * flush(handle, count): sends the first `count` datagrams of `send`; returns how many the kernel
 * took. A datagram the kernel refuses (no route, say) is skipped; a full socket buffer ends the
 * flush: UDP may drop, and TFTP retransmits.
 */
static napi_value flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc == 2 ? port_of(env, argv[0]) : NULL;
  uint32_t count = 0;
  napi_value result;
  if (p == NULL || napi_get_value_uint32(env, argv[1], &count) != napi_ok) {
    napi_create_uint32(env, 0, &result);
    return result;
  }
  if (count > SLOTS) count = SLOTS;
  for (uint32_t i = 0; i < count; i++) {
    p->siov[i].iov_base = p->send + (size_t)i * p->slot;
    p->siov[i].iov_len = p->smeta[i * 3] <= p->slot ? p->smeta[i * 3] : p->slot;
    p->saddr[i].sin_family = AF_INET;
    p->saddr[i].sin_addr.s_addr = htonl(p->smeta[i * 3 + 1]);
    p->saddr[i].sin_port = htons((uint16_t)p->smeta[i * 3 + 2]);
  }
  uint32_t done = 0, taken = 0;
  while (done < count) {
    int n = sendmmsg(p->fd, p->smsgs + done, count - done, MSG_DONTWAIT);
    if (n > 0) {
      done += n;
      taken += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      done++; /* this one datagram was refused: go on with the next */
    }
  }
  napi_create_uint32(env, taken, &result);
  return result;
}

/* The memory goes once both libuv and the JavaScript handle are done with it. */
static void on_closed(uv_handle_t *handle) {
  port_t *p = handle->data;
  close(p->fd);
  p->released = 1;
  if (p->collected) free(p);
}

static void shut(napi_env env, port_t *p) {
  if (p->closed) return;
  p->closed = 1;
  uv_poll_stop(&p->poll);
  napi_delete_reference(env, p->on_batch);
  for (int i = 0; i < 4; i++) napi_delete_reference(env, p->buffers[i]);
  napi_async_destroy(env, p->context);
  uv_close((uv_handle_t *)&p->poll, on_closed);
}

static void on_collected(napi_env env, void *data, void *hint) {
  port_t *p = data;
  (void)hint;
  shut(env, p); /* never closed by its owner: a leak stopped here rather than a socket kept */
  p->collected = 1;
  if (p->released) free(p);
}

/* close(handle): stops reading, closes the socket; the handle is dead after this */
static napi_value close_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  port_t *p = argc ? port_of(env, argv[0]) : NULL;
  if (p != NULL) shut(env, p);
  return NULL;
}

/* ---- server sockets ---- */

/* what every server socket of this Node instance reads into, and the call that hands it over */
typedef struct {
  napi_env env;
  napi_ref on_batch;
  napi_ref buffers[2];
  napi_async_context context;
  char *recv;
  uint32_t *meta;
  size_t slot;
  uint32_t pending;
  uv_check_t check;
  int check_started;
} servers_t;

typedef struct {
  servers_t *servers;
  uv_poll_t poll;
  int fd;
  uint32_t id;
  int closed;
  int released;
  int collected;
} server_t;

/* Hands the datagrams read so far to JavaScript: onBatch(count); meta holds id, length, port. */
static void deliver(servers_t *sv) {
  if (sv->pending == 0) return;
  napi_env env = sv->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  uint32_t count = sv->pending;
  sv->pending = 0;
  call_on_batch(env, sv->on_batch, sv->context, count);
  napi_close_handle_scope(env, scope);
}

/* after the poll phase: what this turn's readable server sockets gave */
static void on_check(uv_check_t *check) {
  servers_t *sv = check->data;
  uv_check_stop(check);
  sv->check_started = 0;
  deliver(sv);
}

/* a length that says "this socket has a pending error" (an ICMP unreachable, say) instead of a datagram */
#define SOCKET_ERROR 0xffffffffu

static void on_server_readable(uv_poll_t *poll, int status, int events) {
  server_t *s = poll->data;
  (void)events;
  if (s->closed) return;
  servers_t *sv = s->servers;
  if (sv->pending == SLOTS) deliver(sv);
  if (s->closed) return; /* closed by that call */
  uint32_t i = sv->pending;
  struct sockaddr_in from;
  socklen_t size = sizeof from;
  uint32_t length = SOCKET_ERROR, port = 0;
  if (status < 0) {
    /* libuv stops watching a socket whose error it saw (an ICMP unreachable on a connected
       socket): read the error, which clears it, and watch again */
    rearm(&s->poll, s->fd, on_server_readable);
  } else {
    ssize_t n = recvfrom(s->fd, sv->recv + (size_t)i * sv->slot, sv->slot, MSG_DONTWAIT, (struct sockaddr *)&from, &size);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n >= 0) {
      length = (uint32_t)n;
      port = ntohs(from.sin_port);
    }
  }
  sv->meta[i * 4] = s->id;
  sv->meta[i * 4 + 1] = length;
  sv->meta[i * 4 + 2] = port;
  sv->meta[i * 4 + 3] = length == SOCKET_ERROR ? 0 : ntohl(from.sin_addr.s_addr);
  sv->pending++;
  if (!sv->check_started) {
    uv_check_start(&sv->check, on_check);
    sv->check_started = 1;
  }
}

static void servers_finalize(napi_env env, void *data, void *hint) {
  servers_t *sv = data;
  (void)env;
  (void)hint;
  /* the check handle stays with the loop, which ends with this instance */
  sv->env = NULL;
}

/* serverInit(recv, meta, slot, onBatch): the area every server socket reads into (once per process) */
static napi_value server_init(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  servers_t *existing = NULL;
  if (napi_get_instance_data(env, (void **)&existing) == napi_ok && existing != NULL) {
    napi_throw_error(env, NULL, "udp_batch.serverInit: already done");
    return NULL;
  }
  void *areas[2];
  size_t sizes[2];
  uint32_t slot = 0;
  if (argc < 4 || !buffer_arg(env, argv[0], &areas[0], &sizes[0]) || !buffer_arg(env, argv[1], &areas[1], &sizes[1]) ||
      napi_get_value_uint32(env, argv[2], &slot) != napi_ok || slot == 0) {
    napi_throw_type_error(env, NULL, "udp_batch.serverInit: two Buffers, a slot size and a function");
    return NULL;
  }
  if (sizes[0] < (size_t)SLOTS * slot || sizes[1] < SLOTS * 16) {
    napi_throw_range_error(env, NULL, "udp_batch.serverInit: buffers too small for the slots");
    return NULL;
  }
  servers_t *sv = calloc(1, sizeof *sv);
  if (sv == NULL) return throw_errno(env, "calloc", ENOMEM);
  sv->env = env;
  sv->recv = areas[0];
  sv->meta = areas[1];
  sv->slot = slot;
  for (int i = 0; i < 2; i++) napi_create_reference(env, argv[i], 1, &sv->buffers[i]);
  napi_create_reference(env, argv[3], 1, &sv->on_batch);
  napi_value name;
  napi_create_string_utf8(env, "udp_batch_servers", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &sv->context);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  uv_check_init(loop, &sv->check);
  sv->check.data = sv;
  uv_unref((uv_handle_t *)&sv->check); /* pending datagrams alone do not keep the process alive */
  napi_set_instance_data(env, sv, servers_finalize, NULL);
  return NULL;
}

static server_t *server_of(napi_env env, napi_value handle) {
  void *data = NULL;
  if (napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) return NULL;
  server_t *s = data;
  return s->closed ? NULL : s;
}

static void on_server_collected(napi_env env, void *data, void *hint);

/* serverOpen(id): a handle: an IPv4 UDP socket on a free port of every address, read from now */
static napi_value server_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  servers_t *sv = NULL;
  if (napi_get_instance_data(env, (void **)&sv) != napi_ok || sv == NULL) {
    napi_throw_error(env, NULL, "udp_batch.serverOpen: serverInit first");
    return NULL;
  }
  uint32_t id = 0;
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch.serverOpen: an id");
    return NULL;
  }
  server_t *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_errno(env, "calloc", ENOMEM);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_ANY)};
  s->poll.data = s;
  s->fd = open_watched(env, &any, &s->poll, on_server_readable);
  if (s->fd < 0) {
    if (s->fd == -1) free(s);
    return NULL;
  }
  s->servers = sv;
  s->id = id;
  napi_value handle;
  CHECK(env, napi_create_external(env, s, on_server_collected, NULL, &handle));
  return handle;
}

static int ipv4_arg(napi_env env, napi_value address, napi_value port, struct sockaddr_in *to) {
  uint32_t a = 0, p = 0;
  if (napi_get_value_uint32(env, address, &a) != napi_ok || napi_get_value_uint32(env, port, &p) != napi_ok || p > 65535) return 0;
  memset(to, 0, sizeof *to);
  to->sin_family = AF_INET;
  to->sin_addr.s_addr = htonl(a);
  to->sin_port = htons((uint16_t)p);
  return 1;
}

static napi_value errno_value(napi_env env, int error) {
  napi_value result;
  napi_create_int32(env, error, &result);
  return result;
}

/*
 * serverSend(handle, buffer, address, port): sends buffer to address:port (an IPv4 number), or to
 * the connected peer when address is 0 and port 0. Returns 0, or the errno of a datagram the
 * kernel refused (EAGAIN: a full buffer; UDP may drop, and TFTP retransmits).
 */
static napi_value server_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 4 ? server_of(env, argv[0]) : NULL;
  void *data = NULL;
  size_t length = 0;
  struct sockaddr_in to;
  if (s == NULL) return errno_value(env, EBADF);
  if (!buffer_arg(env, argv[1], &data, &length) || !ipv4_arg(env, argv[2], argv[3], &to)) return errno_value(env, EINVAL);
  int connected = to.sin_addr.s_addr == 0 && to.sin_port == 0;
  ssize_t n;
  do {
    n = connected ? send(s->fd, data, length, MSG_DONTWAIT) : sendto(s->fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  return errno_value(env, n < 0 ? errno : 0);
}

/* serverConnect(handle, address, port): only address:port may send to the socket from now; 0 or an errno */
static napi_value server_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc == 3 ? server_of(env, argv[0]) : NULL;
  struct sockaddr_in to;
  if (s == NULL) return errno_value(env, EBADF);
  if (!ipv4_arg(env, argv[1], argv[2], &to)) return errno_value(env, EINVAL);
  return errno_value(env, connect(s->fd, (struct sockaddr *)&to, sizeof to) < 0 ? errno : 0);
}

static void on_server_closed(uv_handle_t *handle) {
  server_t *s = handle->data;
  close(s->fd);
  s->released = 1;
  if (s->collected) free(s);
}

static void server_shut(server_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_server_closed);
}

static void on_server_collected(napi_env env, void *data, void *hint) {
  server_t *s = data;
  (void)env;
  (void)hint;
  server_shut(s);
  s->collected = 1;
  if (s->released) free(s);
}

/* serverClose(handle): stops reading and closes the socket (datagrams already read are still handed over) */
static napi_value server_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = argc ? server_of(env, argv[0]) : NULL;
  if (s != NULL) server_shut(s);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"open", NULL, open_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"port", NULL, local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flush", NULL, flush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverInit", NULL, server_init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverOpen", NULL, server_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverSend", NULL, server_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverConnect", NULL, server_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverClose", NULL, server_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  napi_value slots;
  napi_create_uint32(env, SLOTS, &slots);
  napi_set_named_property(env, exports, "SLOTS", slots);
  return exports;
}
