/*
 * The watchers of figure 6: N clients of one task's event stream in one process, one epoll
 * loop over non-blocking sockets. It exists to be a light load generator, as wrk is for
 * figures 4 and 5: the Node watcher processes (sse-watchers.ts fanout) spend 7.5-9.5 us of
 * CPU per frame they read, on the same cores as the daemon, so that the spread they measure
 * is as much theirs as the daemon's. Compiled by the bench with `cc -O2`.
 *
 *   sse-fanout HOST PORT PATH N
 *
 * It speaks as `sse-watchers.js fanout` does (the FanoutReady and FanoutReport shapes of
 * sse-watchers.ts). It opens N streams (GET PATH, at most 50 opening at a time; a stream is
 * open once `event: snapshot` came, failed if its response does not begin with
 * "HTTP/1.1 200 "), prints {"ready":{...}} once every one has opened or failed, and keeps
 * reading them all. For every `run-started` event it records, per stream, the wall clock
 * (CLOCK_REALTIME, epoch ms) when the read holding it returned. On the line "report" on stdin
 * it prints {"report":{...}} (those receipt times per run) and exits. It gives up after 180 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OPEN_CONCURRENCY 50
#define GUARD_MS 180000
/* Bytes of a read kept and searched again with the next, so that a marker split between two reads is found. */
#define KEEP 256
#define READ_SIZE 65536
#define MAX_RUNS 128
#define MAX_EVENTS 512
#define STDIN_TAG UINT64_MAX

static const char snapshotMarker[] = "event: snapshot\n";
static const char runStartedMarker[] = "event: run-started\ndata: ";
static const char okStatus[] = "HTTP/1.1 200 ";

enum state { CONNECTING, OPENING, OPEN, GONE };

struct conn {
  int fd;
  unsigned char state;
  unsigned char statusChecked;
  unsigned short sent; /* bytes of the request sent so far */
  unsigned short carryLen;
  /* Where the carry (and so the next window) begins in the stream. */
  long long windowStart;
  /* Where the last marker counted of each kind began in the stream, or -1. */
  long long lastSnapshot, lastRunStarted;
  unsigned char carry[KEEP];
};

/* One run's run-started as received: receipts has room for one per stream. */
struct run {
  long long run;
  char startedAt[64];
  double *receipts;
  int count;
};

static struct conn *conns;
static int total, next, connected, failed, closedEarly, runCount;
static char firstError[160];
static int hasError;
static struct run runs[MAX_RUNS];
static int epfd;
static struct addrinfo *address;
static char request[1024];
static int requestLength;
static double openStartedMs;
static unsigned char buffer[KEEP + READ_SIZE];

static double clockMs(clockid_t clock) {
  struct timespec now;
  clock_gettime(clock, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

static void printJsonString(const char *text) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void openNext(void);

/* A stream that opened or failed to open: the next one may start. */
static void settle(void) {
  if (connected + failed == total) {
    printf("{\"ready\":{\"connected\":%d,\"failed\":%d,\"firstError\":", connected, failed);
    if (hasError) printJsonString(firstError);
    else fputs("null", stdout);
    printf(",\"openMs\":%.3f}}\n", clockMs(CLOCK_MONOTONIC) - openStartedMs);
    fflush(stdout);
  } else if (next < total) {
    openNext();
  }
}

/* The stream ended or failed: before its snapshot it failed to open, after it it closed early. */
static void fail(struct conn *c, const char *message) {
  if (c->state == GONE) return;
  int wasOpening = c->state != OPEN;
  if (wasOpening) {
    failed++;
    if (!hasError) {
      hasError = 1;
      snprintf(firstError, sizeof firstError, "%s", message);
    }
  } else {
    closedEarly++;
  }
  if (c->fd >= 0) close(c->fd); /* which also takes it out of the epoll set */
  c->fd = -1;
  c->state = GONE;
  if (wasOpening) settle();
}

static void failErrno(struct conn *c, const char *what, int error) {
  char message[128];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  fail(c, message);
}

static void openNext(void) {
  struct conn *c = &conns[next++];
  c->state = CONNECTING;
  c->fd = socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    failErrno(c, "socket", errno);
    return;
  }
  if (connect(c->fd, address->ai_addr, address->ai_addrlen) != 0 && errno != EINPROGRESS) {
    failErrno(c, "connect", errno);
    return;
  }
  /* Edge-triggered: every read below goes on until EAGAIN. Writable = connected. */
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)(c - conns)};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &event) != 0) failErrno(c, "epoll_ctl", errno);
}

/* Connected (or failed to): sends the request, then listens for reads only. */
static void writable(struct conn *c) {
  if (c->state == CONNECTING) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      failErrno(c, "connect", error);
      return;
    }
    c->state = OPENING;
  }
  while (c->sent < requestLength) {
    ssize_t sent = send(c->fd, request + c->sent, requestLength - c->sent, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EINTR) failErrno(c, "send", errno);
      return;
    }
    c->sent += sent;
  }
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)(c - conns)};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &event);
}

/* The run's entry, made the first time the run is seen (NULL past MAX_RUNS). */
static struct run *runEntry(long long number, const unsigned char *startedAt, size_t length) {
  for (int i = 0; i < runCount; i++)
    if (runs[i].run == number) return &runs[i];
  if (runCount == MAX_RUNS) return NULL;
  struct run *entry = &runs[runCount++];
  entry->run = number;
  if (length >= sizeof entry->startedAt) length = sizeof entry->startedAt - 1;
  memcpy(entry->startedAt, startedAt, length);
  entry->startedAt[length] = '\0';
  entry->receipts = malloc(total * sizeof *entry->receipts);
  if (!entry->receipts) perror("malloc"), exit(1);
  return entry;
}

/* The event's JSON line, e.g. {"run":3,"scheduledAt":"...","startedAt":"...","attempt":1}: records run and startedAt. */
static void runStarted(const unsigned char *line, size_t length, double readAt) {
  static const char runKey[] = "\"run\":", startedKey[] = "\"startedAt\":\"";
  const unsigned char *at = memmem(line, length, runKey, sizeof runKey - 1);
  const unsigned char *started = memmem(line, length, startedKey, sizeof startedKey - 1);
  if (!at || !started) return;
  const unsigned char *end = line + length;
  long long number = 0;
  for (at += sizeof runKey - 1; at < end && *at >= '0' && *at <= '9'; at++) number = number * 10 + (*at - '0');
  started += sizeof startedKey - 1;
  const unsigned char *quote = memchr(started, '"', end - started);
  if (!quote) return;
  struct run *entry = runEntry(number, started, quote - started);
  if (entry && entry->count < total) entry->receipts[entry->count++] = readAt;
}

/*
 * Searches the window (the carry and the bytes just read) as MarkerScanner in sse-watchers.ts
 * does: an occurrence counts only if it begins past the last one counted, and a run-started
 * whose line has not all come yet is left for the next window.
 */
static void scan(struct conn *c, const unsigned char *window, size_t length, double readAt) {
  if (!c->statusChecked) {
    if (length < sizeof okStatus - 1) goto carry; /* the window still begins at the stream's start */
    if (memcmp(window, okStatus, sizeof okStatus - 1) != 0) {
      char status[41];
      size_t n = 0;
      while (n < length && n < sizeof status - 1 && window[n] != '\r' && window[n] != '\n') status[n] = window[n], n++;
      status[n] = '\0';
      fail(c, status);
      return;
    }
    c->statusChecked = 1;
  }
  for (const unsigned char *p = window; (p = memmem(p, window + length - p, snapshotMarker, sizeof snapshotMarker - 1)); p++) {
    long long offset = c->windowStart + (p - window);
    if (offset <= c->lastSnapshot) continue;
    c->lastSnapshot = offset;
    if (c->state == OPENING) {
      c->state = OPEN;
      connected++;
      settle();
    }
  }
  for (const unsigned char *p = window; (p = memmem(p, window + length - p, runStartedMarker, sizeof runStartedMarker - 1)); p++) {
    long long offset = c->windowStart + (p - window);
    if (offset <= c->lastRunStarted) continue;
    const unsigned char *data = p + sizeof runStartedMarker - 1;
    const unsigned char *lineEnd = memchr(data, '\n', window + length - data);
    if (!lineEnd) break;
    runStarted(data, lineEnd - data, readAt);
    c->lastRunStarted = offset;
  }
carry:;
  size_t kept = length < KEEP ? length : KEEP;
  c->windowStart += length - kept;
  memcpy(c->carry, window + length - kept, kept);
  c->carryLen = kept;
}

/* Reads until EAGAIN, each read searched with the carry of the one before. */
static void readable(struct conn *c) {
  while (c->state == OPENING || c->state == OPEN) {
    memcpy(buffer, c->carry, c->carryLen);
    ssize_t got = read(c->fd, buffer + c->carryLen, READ_SIZE);
    double readAt = clockMs(CLOCK_REALTIME);
    if (got > 0) {
      scan(c, buffer, c->carryLen + got, readAt);
    } else if (got == 0) {
      fail(c, "the stream ended");
    } else if (errno == EAGAIN) {
      return;
    } else if (errno != EINTR) {
      failErrno(c, "read", errno);
    }
  }
}

static void report(void) {
  fputs("{\"report\":{\"runs\":[", stdout);
  for (int i = 0; i < runCount; i++) {
    printf("%s{\"run\":%lld,\"startedAt\":", i ? "," : "", runs[i].run);
    printJsonString(runs[i].startedAt);
    fputs(",\"receipts\":[", stdout);
    for (int j = 0; j < runs[i].count; j++) printf("%s%.3f", j ? "," : "", runs[i].receipts[j]);
    fputs("]}", stdout);
  }
  printf("],\"closedEarly\":%d}}\n", closedEarly);
  fflush(stdout);
  exit(0);
}

/* Commands on stdin, one a line: "report". */
static void commands(void) {
  static char line[256];
  static size_t length;
  char text[256];
  ssize_t got = read(0, text, sizeof text);
  if (got <= 0) {
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL); /* stdin ended: nothing more will come */
    return;
  }
  for (ssize_t i = 0; i < got; i++) {
    if (text[i] != '\n') {
      if (length < sizeof line - 1) line[length++] = text[i];
      continue;
    }
    line[length] = '\0';
    length = 0;
    char *word = line;
    while (*word == ' ' || *word == '\t') word++;
    char *end = word + strlen(word);
    while (end > word && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) *--end = '\0';
    if (strcmp(word, "report") == 0) report();
  }
}

int main(int argc, char **argv) {
  total = argc == 5 ? atoi(argv[4]) : 0;
  if (total < 1) return fprintf(stderr, "usage: sse-fanout HOST PORT PATH N\n"), 2;
  const char *host = argv[1], *port = argv[2], *path = argv[3];

  /* One descriptor per stream. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  signal(SIGPIPE, SIG_IGN);
  /* The report can be a megabyte: stdout blocking, and buffered. */
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) & ~O_NONBLOCK);
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);

  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  int error = getaddrinfo(host, port, &hints, &address);
  if (error != 0) return fprintf(stderr, "sse-fanout: %s:%s: %s\n", host, port, gai_strerror(error)), 1;
  requestLength = snprintf(request, sizeof request, strchr(host, ':') ? "GET %s HTTP/1.1\r\nHost: [%s]:%s\r\nAccept: text/event-stream\r\n\r\n" : "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: text/event-stream\r\n\r\n", path, host, port);
  if (requestLength >= (int)sizeof request) return fprintf(stderr, "sse-fanout: the path is too long\n"), 2;

  conns = calloc(total, sizeof *conns);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!conns || epfd < 0) return perror("sse-fanout"), 1;
  for (int i = 0; i < total; i++) conns[i].fd = -1, conns[i].lastSnapshot = conns[i].lastRunStarted = -1;
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &in) != 0) perror("sse-fanout: stdin (no report can be asked for)");

  double guardAt = clockMs(CLOCK_MONOTONIC) + GUARD_MS;
  openStartedMs = clockMs(CLOCK_MONOTONIC);
  for (int i = 0; i < OPEN_CONCURRENCY && next < total; i++) openNext();

  static struct epoll_event events[MAX_EVENTS];
  for (;;) {
    double left = guardAt - clockMs(CLOCK_MONOTONIC);
    if (left <= 0) return fprintf(stderr, "sse-fanout: still running after %d s; giving up\n", GUARD_MS / 1000), 1;
    int ready = epoll_wait(epfd, events, MAX_EVENTS, (int)left + 1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return perror("epoll_wait"), 1;
    }
    for (int i = 0; i < ready; i++) {
      if (events[i].data.u64 == STDIN_TAG) {
        commands();
        continue;
      }
      struct conn *c = &conns[events[i].data.u64];
      uint32_t flags = events[i].events;
      if ((c->state == CONNECTING || c->sent < requestLength) && c->state != GONE && (flags & (EPOLLOUT | EPOLLERR | EPOLLHUP))) writable(c);
      if ((c->state == OPENING || c->state == OPEN) && (flags & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) readable(c);
    }
  }
}
