/*
 * The reference for the start lateness of a burst: spawns N copies of a script with
 * posix_spawn("/bin/bash", "-c", SCRIPT) in a tight loop, stdin from /dev/null and stdout to
 * a pipe as the daemon does, then reads each pipe and reaps each child. Prints one JSON line,
 * {"late":[...],"startMs":T0}: per script, the clock it printed ($EPOCHREALTIME) minus the
 * moment the loop started (T0, ms since the epoch), in ms; null when it printed no clock.
 * With CAP, at most CAP scripts run at once: before spawning past it the loop reads and
 * reaps the oldest script still running, as a daemon with --max-runs CAP starts a waiting
 * run when a slot frees. Compiled by the bench with `cc`.
 *   spawn-loop N SCRIPT [CAP]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int *pipes;
static pid_t *pids;
static double *clocks;

/* Reads the clock script i printed (NAN when none) and reaps it. */
static void collect(int i) {
  char text[128];
  ssize_t length = 0, got;
  while (length < (ssize_t)sizeof text - 1 && (got = read(pipes[i], text + length, sizeof text - 1 - length)) > 0) length += got;
  text[length] = '\0';
  close(pipes[i]);
  waitpid(pids[i], NULL, 0);
  char *end;
  double seconds = strtod(text, &end);
  clocks[i] = end == text ? NAN : seconds * 1e3;
}

int main(int argc, char **argv) {
  int count = argc == 3 || argc == 4 ? atoi(argv[1]) : 0;
  int cap = argc == 4 ? atoi(argv[3]) : count;
  if (count < 1 || count > 10000 || cap < 1) return fprintf(stderr, "usage: spawn-loop N SCRIPT [CAP] (N from 1 to 10000)\n"), 2;
  /* One pipe per script is open until the loop ends. */
  struct rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  pipes = calloc(count, sizeof *pipes);
  pids = calloc(count, sizeof *pids);
  clocks = calloc(count, sizeof *clocks);
  int collected = 0;
  char *args[] = {"/bin/bash", "-c", argv[2], NULL};
  posix_spawn_file_actions_t actions;

  struct timespec t0;
  clock_gettime(CLOCK_REALTIME, &t0);
  for (int i = 0; i < count; i++) {
    while (i - collected >= cap) collect(collected++);
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) return perror("pipe2"), 1;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, ends[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pids[i], args[0], &actions, NULL, args, environ) != 0) return perror("posix_spawn"), 1;
    posix_spawn_file_actions_destroy(&actions);
    close(ends[1]);
    pipes[i] = ends[0];
  }

  while (collected < count) collect(collected++);

  double startMs = t0.tv_sec * 1e3 + t0.tv_nsec / 1e6;
  printf("{\"late\":[");
  for (int i = 0; i < count; i++) {
    if (isnan(clocks[i])) printf("%snull", i ? "," : "");
    else printf("%s%.3f", i ? "," : "", clocks[i] - startMs);
  }
  printf("],\"startMs\":%.3f}\n", startMs);
  return 0;
}
