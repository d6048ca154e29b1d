/*
 * scheduler-executor: the small process that spawns the daemon's runs.
 *
 * Node's spawn forks the whole daemon: the kernel copies the page tables of its heap for each
 * run, so a spawn costs more the more memory the daemon holds, and the daemon's thread waits
 * through it. This program holds a few hundred kilobytes and spawns with vfork(), which copies
 * nothing: the child borrows the executor's memory until it calls execve(). (systemd moved
 * spawning out of PID 1 into systemd-executor for the same reason.)
 *
 * It does nothing but process plumbing; every policy (what to run, the gate, limits, timeouts,
 * kills, the output cap) stays in the daemon. The daemon talks to it over its stdin and stdout,
 * in frames:
 *
 *   u32 length of what follows (little-endian), u8 type, u32 run id, payload
 *
 * daemon -> executor
 *   SPAWN        u32 uid, u32 gid (0xffffffff: the executor's own), u32 argc, u32 envc,
 *                then NUL-terminated strings: cwd, argv[argc] (argv[0] is the program's path),
 *                env[envc]. The child gets its own session (so its process group is its pid),
 *                stdin from /dev/null, stdout and stderr to pipes read here, and on fd 3 the
 *                read end of the run's gate pipe.
 *   GATE         bytes to write to the gate, which is then closed (empty: just close it).
 *   GATE_AT      u64 wall-clock time in microseconds since the epoch, then the bytes of a GATE:
 *                written at that time (at once if it has passed), by a timer of this process.
 *                The daemon fires a task a few milliseconds ahead of its time and leaves the
 *                start on the dot to this timer, which no garbage collection or busy event
 *                loop delays. A GATE for the same run before the time writes at once.
 *   CLOSE_OUTPUT stop reading the run's output: its pipes are closed.
 * executor -> daemon
 *   SPAWNED      u32 pid
 *   SPAWN_FAILED i32 errno (of pipe, vfork, setsid, dup2, chdir, setgid, setuid or execve)
 *   OUTPUT       u8 stream (1 stdout, 2 stderr), the bytes read
 *   EOF          u8 stream
 *   EXIT         u8 how (1 exited, 2 killed by a signal), i32 exit code or signal number,
 *                u8 1 when the run's process group still had processes once its leader was
 *                reaped, 0 when it was empty (nothing left for the daemon to end: signalling
 *                an empty group cost the daemon an exception per run)
 *
 * Output the daemon does not read fast enough is held here up to a bound; past it the
 * executor stops reading the runs' pipes, so scripts block on a full pipe as they would
 * with the daemon reading them itself. The executor exits when its stdin closes (the
 * daemon stopped or died): the runs go on, as they would if the daemon had spawned them,
 * and the next daemon finds them as orphans. It ignores SIGINT, SIGTERM and SIGHUP (a
 * Ctrl-C meant for the daemon reaches its whole process group; the daemon ends the runs
 * itself) and restores every signal for the runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CMD_SPAWN = 1, CMD_GATE = 2, CMD_CLOSE_OUTPUT = 3, CMD_GATE_AT = 4 };
enum { EV_SPAWNED = 1, EV_SPAWN_FAILED = 2, EV_OUTPUT = 3, EV_EOF = 4, EV_EXIT = 5 };
enum { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

#define HEADER_BYTES 9            /* u32 length, u8 type, u32 id */
#define READ_CHUNK 65536          /* at most this much output per read, as node reads a pipe */
#define OUT_HIGH (8u << 20)       /* stop reading the runs' output past this much unsent... */
#define OUT_LOW (1u << 20)        /* ...and start again below this */
#define KEEP_ID 0xffffffffu
#define GATE_BYTES_MAX 16         /* "go\n" and room to spare */

/* What an epoll event points at: the channel, the signal fd, or one output pipe of a run. */
struct watched {
  int kind; /* 0 channel in, 1 channel out, 2 signals, 3 output, 4 the gate timer */
  struct run *run;
  int stream;
};

struct run {
  uint32_t id;
  pid_t pid;
  int gate;      /* write end of the gate pipe, -1 once closed */
  int out[3];    /* read ends of stdout [1] and stderr [2], -1 once closed */
  struct watched watch[3];
  int exited;
  /* A GATE_AT waiting for its time: the gate is written when `gate_at` has come. */
  int gate_pending;
  struct timespec gate_at;
  unsigned char gate_bytes[GATE_BYTES_MAX];
  size_t gate_length;
  struct run *next;
};

struct buffer {
  unsigned char *data;
  size_t start, end, cap;
};

static int epoll_fd, signal_fd, timer_fd, dev_null;
static struct run *runs;
static struct buffer in_buf, out_buf;
static int output_paused, channel_out_watched;
static struct watched channel_in = {0, NULL, 0}, channel_out = {1, NULL, 0}, signals = {2, NULL, 0}, gate_timer = {4, NULL, 0};

static void die(const char *what) {
  fprintf(stderr, "scheduler-executor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void reserve(struct buffer *b, size_t more) {
  if (b->end + more <= b->cap) return;
  if (b->start > 0) { /* move what is left to the front before growing */
    memmove(b->data, b->data + b->start, b->end - b->start);
    b->end -= b->start;
    b->start = 0;
    if (b->end + more <= b->cap) return;
  }
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->end + more) cap *= 2;
  unsigned char *data = realloc(b->data, cap);
  if (!data) die("out of memory");
  b->data = data;
  b->cap = cap;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void watch_fd(int fd, struct watched *w, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(epoll_fd, op, fd, &ev) < 0) die("epoll_ctl");
}

static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

/* Starts a frame of `payload` bytes in the outgoing buffer; returns where its payload goes. */
static unsigned char *begin_event(int type, uint32_t id, size_t payload) {
  reserve(&out_buf, HEADER_BYTES + payload);
  unsigned char *p = out_buf.data + out_buf.end;
  put_u32(p, (uint32_t)(5 + payload));
  p[4] = (unsigned char)type;
  put_u32(p + 5, id);
  out_buf.end += HEADER_BYTES + payload;
  return p + HEADER_BYTES;
}

static void event_u32(int type, uint32_t id, uint32_t value) {
  put_u32(begin_event(type, id, 4), value);
}

static void event_stream(int type, uint32_t id, int stream) {
  *begin_event(type, id, 1) = (unsigned char)stream;
}

static void set_output_paused(int paused);

/* Writes what it can of the outgoing buffer; the rest waits for the channel to drain. */
static void flush_events(void) {
  while (out_buf.end > out_buf.start) {
    ssize_t n = write(STDOUT_FILENO, out_buf.data + out_buf.start, out_buf.end - out_buf.start);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) exit(0); /* the daemon is gone */
    out_buf.start += (size_t)n;
  }
  if (out_buf.start == out_buf.end) out_buf.start = out_buf.end = 0;
  int pending = out_buf.end > out_buf.start;
  if (pending != channel_out_watched) {
    watch_fd(STDOUT_FILENO, &channel_out, EPOLLOUT, pending ? EPOLL_CTL_ADD : EPOLL_CTL_DEL);
    channel_out_watched = pending;
  }
  size_t unsent = out_buf.end - out_buf.start;
  if (!output_paused && unsent > OUT_HIGH) set_output_paused(1);
  if (output_paused && unsent < OUT_LOW) set_output_paused(0);
}

/* Stops (or resumes) reading every run's output, while the daemon has not taken what was read. */
static void set_output_paused(int paused) {
  output_paused = paused;
  for (struct run *r = runs; r; r = r->next)
    for (int s = STREAM_STDOUT; s <= STREAM_STDERR; s++)
      if (r->out[s] >= 0) watch_fd(r->out[s], &r->watch[s], paused ? 0 : EPOLLIN, EPOLL_CTL_MOD);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void close_output(struct run *r, int stream) {
  if (r->out[stream] < 0) return;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, r->out[stream], NULL);
  close_fd(&r->out[stream]);
}

/* Runs forgotten while handling one batch of events, freed after it: a later event of the
   same batch may still point at one. */
static struct run *forgotten;

/* Forgets a run once nothing more can come from it. */
static void forget_if_done(struct run *r) {
  if (!r->exited || r->out[STREAM_STDOUT] >= 0 || r->out[STREAM_STDERR] >= 0) return;
  close_fd(&r->gate);
  for (struct run **p = &runs; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      r->next = forgotten;
      forgotten = r;
      return;
    }
  }
}

static void free_forgotten(void) {
  while (forgotten) {
    struct run *next = forgotten->next;
    free(forgotten);
    forgotten = next;
  }
}

static struct run *find_run(uint32_t id) {
  for (struct run *r = runs; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

/* Set by the vfork child when it could not exec (it shares this memory until it exits). */
static volatile int child_errno;

static void spawn_run(uint32_t id, const unsigned char *payload, size_t length) {
  if (length < 16) return;
  uint32_t uid = get_u32(payload), gid = get_u32(payload + 4);
  uint32_t argc = get_u32(payload + 8), envc = get_u32(payload + 12);
  const char *cursor = (const char *)payload + 16, *end = (const char *)payload + length;
  if (argc < 1 || argc > length || envc > length) return;
  char **argv = calloc(argc + 1, sizeof(char *)), **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) die("out of memory");
  /* The strings are NUL-terminated inside the frame: cwd, then argv, then env. */
  const char *cwd = NULL;
  uint32_t wanted = 1 + argc + envc;
  for (uint32_t i = 0; i < wanted; i++) {
    const char *nul = memchr(cursor, 0, (size_t)(end - cursor));
    if (!nul) { free(argv); free(envp); return; }
    if (i == 0) cwd = cursor;
    else if (i <= argc) argv[i - 1] = (char *)cursor;
    else envp[i - 1 - argc] = (char *)cursor;
    cursor = nul + 1;
  }

  int out[2] = {-1, -1}, err[2] = {-1, -1}, gate[2] = {-1, -1};
  pid_t pid = -1;
  int failure = 0;
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(gate, O_CLOEXEC) < 0) {
    failure = errno;
  } else {
    child_errno = 0;
    pid = vfork();
    if (pid == 0) {
      /* The child: only system calls from here, and execve or _exit. Its file table and
         signal dispositions are its own copies; the pipes' other ends close on exec. */
      sigset_t none;
      sigemptyset(&none);
      if (setsid() < 0 || dup2(dev_null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 || dup2(gate[0], 3) < 0) goto failed;
      if (cwd[0] != 0 && chdir(cwd) < 0) goto failed;
      if (uid != KEEP_ID) {
        /* As node does when it runs a child as another user: no supplementary groups. Raw
           system calls, which change this process alone (glibc's wrappers would signal the
           executor's threads, whose memory the child still shares). */
        syscall(SYS_setgroups, 0, NULL);
        if (gid != KEEP_ID && syscall(SYS_setgid, gid) < 0) goto failed;
        if (syscall(SYS_setuid, uid) < 0) goto failed;
      } else if (gid != KEEP_ID && syscall(SYS_setgid, gid) < 0) {
        goto failed;
      }
      signal(SIGPIPE, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      sigprocmask(SIG_SETMASK, &none, NULL);
      execve(argv[0], argv, envp);
    failed:
      child_errno = errno;
      _exit(127);
    }
    if (pid < 0) failure = errno;
    else if (child_errno != 0) {
      failure = child_errno;
      waitpid(pid, NULL, 0);
    }
  }
  close_fd(&out[1]);
  close_fd(&err[1]);
  close_fd(&gate[0]);
  free(argv);
  free(envp);
  if (failure != 0) {
    close_fd(&out[0]);
    close_fd(&err[0]);
    close_fd(&gate[1]);
    event_u32(EV_SPAWN_FAILED, id, (uint32_t)failure);
    return;
  }

  struct run *r = calloc(1, sizeof *r);
  if (!r) die("out of memory");
  r->id = id;
  r->pid = pid;
  r->gate = gate[1];
  r->out[0] = -1;
  r->out[STREAM_STDOUT] = out[0];
  r->out[STREAM_STDERR] = err[0];
  set_nonblocking(r->gate);
  for (int s = STREAM_STDOUT; s <= STREAM_STDERR; s++) {
    set_nonblocking(r->out[s]);
    r->watch[s] = (struct watched){3, r, s};
    watch_fd(r->out[s], &r->watch[s], output_paused ? 0 : EPOLLIN, EPOLL_CTL_ADD);
  }
  r->next = runs;
  runs = r;
  event_u32(EV_SPAWNED, id, (uint32_t)pid);
}

static void write_gate(struct run *r, const unsigned char *bytes, size_t length) {
  r->gate_pending = 0;
  if (r->gate < 0) return;
  /* A few bytes into an empty pipe never block; a shell that is gone makes this EPIPE, which is
     no matter: its exit says how the run ended. */
  if (length > 0) (void)!write(r->gate, bytes, length);
  close_fd(&r->gate);
}

static int earlier(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Arms the gate timer for the earliest gate waiting for its time, or disarms it. */
static void arm_gate_timer(void) {
  struct itimerspec when = {0};
  for (struct run *r = runs; r; r = r->next)
    if (r->gate_pending && r->gate >= 0 && (when.it_value.tv_sec == 0 || earlier(&r->gate_at, &when.it_value))) when.it_value = r->gate_at;
  if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0) die("timerfd_settime");
}

/* The gate timer went off: writes every gate whose time has come. */
static void open_due_gates(void) {
  uint64_t expirations;
  (void)!read(timer_fd, &expirations, sizeof expirations);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (struct run *r = runs; r; r = r->next)
    if (r->gate_pending && !earlier(&now, &r->gate_at)) write_gate(r, r->gate_bytes, r->gate_length);
  arm_gate_timer();
}

static void write_gate_at(struct run *r, const unsigned char *payload, size_t length) {
  if (length < 8 || length - 8 > GATE_BYTES_MAX) return;
  uint64_t micros = (uint64_t)get_u32(payload) | (uint64_t)get_u32(payload + 4) << 32;
  struct timespec at = {.tv_sec = (time_t)(micros / 1000000), .tv_nsec = (long)(micros % 1000000) * 1000}, now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (!earlier(&now, &at)) {
    write_gate(r, payload + 8, length - 8);
    return;
  }
  r->gate_pending = 1;
  r->gate_at = at;
  r->gate_length = length - 8;
  memcpy(r->gate_bytes, payload + 8, r->gate_length);
  arm_gate_timer();
}

static void handle_command(int type, uint32_t id, const unsigned char *payload, size_t length) {
  switch (type) {
  case CMD_SPAWN: spawn_run(id, payload, length); break;
  case CMD_GATE: {
    struct run *r = find_run(id);
    if (r) write_gate(r, payload, length);
    break;
  }
  case CMD_GATE_AT: {
    struct run *r = find_run(id);
    if (r) write_gate_at(r, payload, length);
    break;
  }
  case CMD_CLOSE_OUTPUT: {
    struct run *r = find_run(id);
    if (!r) break;
    close_output(r, STREAM_STDOUT);
    close_output(r, STREAM_STDERR);
    forget_if_done(r);
    break;
  }
  default: break; /* a newer daemon's command: nothing to do */
  }
}

static void read_commands(void) {
  reserve(&in_buf, READ_CHUNK);
  ssize_t n = read(STDIN_FILENO, in_buf.data + in_buf.end, in_buf.cap - in_buf.end);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    /* The daemon closed the channel: send what is left if it still reads, and go. */
    exit(0);
  }
  in_buf.end += (size_t)n;
  while (in_buf.end - in_buf.start >= 4) {
    uint32_t length = get_u32(in_buf.data + in_buf.start);
    if (length < 5) die("a malformed frame from the daemon");
    if (in_buf.end - in_buf.start < 4 + (size_t)length) {
      reserve(&in_buf, 4 + (size_t)length);
      break;
    }
    const unsigned char *frame = in_buf.data + in_buf.start + 4;
    handle_command(frame[0], get_u32(frame + 1), frame + 5, length - 5);
    in_buf.start += 4 + (size_t)length;
  }
  if (in_buf.start == in_buf.end) in_buf.start = in_buf.end = 0;
}

static void read_output(struct run *r, int stream) {
  if (r->out[stream] < 0) return; /* closed earlier in this batch */
  reserve(&out_buf, HEADER_BYTES + 1 + READ_CHUNK);
  unsigned char *frame = out_buf.data + out_buf.end;
  ssize_t n = read(r->out[stream], frame + HEADER_BYTES + 1, READ_CHUNK);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    close_output(r, stream);
    event_stream(EV_EOF, r->id, stream);
    forget_if_done(r);
    return;
  }
  put_u32(frame, (uint32_t)(5 + 1 + n));
  frame[4] = EV_OUTPUT;
  put_u32(frame + 5, r->id);
  frame[HEADER_BYTES] = (unsigned char)stream;
  out_buf.end += HEADER_BYTES + 1 + (size_t)n;
}

static void reap_children(void) {
  struct signalfd_siginfo info;
  while (read(signal_fd, &info, sizeof info) == sizeof info) {
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct run *r = runs;
    while (r && r->pid != pid) r = r->next;
    if (!r) continue; /* one whose spawn failed, already answered */
    r->exited = 1;
    unsigned char *p = begin_event(EV_EXIT, r->id, 6);
    p[0] = WIFSIGNALED(status) ? 2 : 1;
    put_u32(p + 1, (uint32_t)(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
    /* The run is its group's leader (setsid): probe the group now, while its id cannot have
       been taken by another group (a member keeps it in use). */
    p[5] = kill(-pid, 0) == 0 || errno != ESRCH;
    forget_if_done(r);
  }
}

/* Closes whatever descriptors the daemon's own parent left open without close-on-exec: the
   runs get 0 to 3 and nothing else. */
static void close_inherited(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3, ~0u, 0) == 0) return;
#endif
  for (int fd = 3; fd < 1024; fd++) close(fd);
}

int main(void) {
  close_inherited();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &child, NULL) < 0) die("sigprocmask");
  if ((signal_fd = signalfd(-1, &child, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) die("signalfd");
  if ((dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) die("/dev/null");
  if ((epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll_create1");
  if ((timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) die("timerfd_create");
  /* The channel's own descriptors must not reach the runs either. */
  fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);
  fcntl(STDOUT_FILENO, F_SETFD, FD_CLOEXEC);
  set_nonblocking(STDIN_FILENO);
  set_nonblocking(STDOUT_FILENO);
  watch_fd(STDIN_FILENO, &channel_in, EPOLLIN, EPOLL_CTL_ADD);
  watch_fd(signal_fd, &signals, EPOLLIN, EPOLL_CTL_ADD);
  watch_fd(timer_fd, &gate_timer, EPOLLIN, EPOLL_CTL_ADD);

  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epoll_fd, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      struct watched *w = events[i].data.ptr;
      if (w->kind == 0) read_commands();
      else if (w->kind == 2) reap_children();
      else if (w->kind == 3) read_output(w->run, w->stream);
      else if (w->kind == 4) open_due_gates();
      /* kind 1, the channel writable: the flush below does it */
    }
    free_forgotten();
    flush_events();
  }
}
